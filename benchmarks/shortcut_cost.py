"""What rate control's two shortcuts cost in quality: blended latents and trimming.

Rate control makes some files without running g_a at their λ: blending two probes' latents
(``codec.blend``) and trimming a file a little over its target (``ratecontrol._trimmed``).
Each such file is compared with the λ route to the same size: the PSNR g_a's own files
reach at that size, interpolated in log size between the encodes at the file's λ and one
grid step of 0.05 in log λ beyond. Positive cost = the shortcut's file is worse; a trim
that ``ratecontrol.MAX_TRIM_COST`` refuses is counted apart (rate control tries another λ).
Training photos only (every 3rd from the 3rd, shrunk to fit 768 px, like Kodak). Writes
``benchmarks/results/shortcut_cost.{json,md}``.

    python benchmarks/shortcut_cost.py [--photos 12]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from rd import ROOT
from yotocodec import codec, ratecontrol
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.metrics import psnr
from yotocodec.train import TrainConfig

CUTS = (0.01, 0.02, 0.03, 0.04)
"""Size cuts by trimming that are measured."""
STEP = 0.05
"""log λ between the two encodes that give the λ route's local RD slope."""


def _lmbda(t: float) -> float:
    return float(np.float32(math.exp(t)))


def _route_psnr(image: Image.Image, t: float, size: int, model) -> float:
    """PSNR of g_a's files at ``size`` bytes, interpolated from the encodes at e^t and e^(t+STEP)."""
    points = []
    for s in (t, t + STEP):
        data = codec.encode(image, _lmbda(s), model)
        points.append((math.log(len(data)), psnr(image, codec.decode(data, model))))
    (x0, y0), (x1, y1) = points
    return y0 + (y1 - y0) * (math.log(size) - x0) / (x1 - x0)


def _cost(image: Image.Image, analysis: codec.Analysis, data: bytes, model) -> dict:
    t = math.log(analysis.rate.lmbda)
    got = psnr(image, codec.decode(data, model))
    return {"log_lmbda": t, "bytes": len(data), "psnr": got, "cost_db": _route_psnr(image, t, len(data), model) - got}


def blend_case(image: Image.Image, rng: np.random.Generator, model) -> dict:
    """A blend 5–30 % of the way from one probe towards another 0.3–0.9 away in log λ."""
    lo, hi = math.log(model.config.lmbda_min), math.log(model.config.lmbda_max)
    t2 = rng.uniform(lo, hi - 1.0)
    t1 = t2 + rng.uniform(0.3, 0.9)
    t = t2 + rng.uniform(0.05, 0.3) * (t1 - t2)
    a, b = (codec.analyse(image, _lmbda(s), model) for s in (t2, t1))
    blended = codec.blend(a, b, _lmbda(t))
    return {"gap": t1 - t2} | _cost(image, blended, blended.pack(), model)


def trim_case(image: Image.Image, rng: np.random.Generator, cut: float, model) -> dict:
    """A file cut by ``cut`` (relative, to the middle of the tolerance) at a random λ."""
    lo, hi = math.log(model.config.lmbda_min), math.log(model.config.lmbda_max)
    analysis = codec.analyse(image, _lmbda(rng.uniform(lo, hi - STEP)), model)
    probe = ratecontrol._packed("size", analysis, analysis.pack())
    target = probe.value * (1 - cut) / (1 - ratecontrol.TOLERANCE["size"] / 2)
    trimmed = ratecontrol._trimmed("size", probe, target)
    if trimmed is probe:  # too dear to cut (ratecontrol.MAX_TRIM_COST): rate control tries another λ
        return {"cut": cut, "log_lmbda": math.log(analysis.rate.lmbda), "refused": True}
    return {"cut": cut} | _cost(image, analysis, trimmed.data, model)


def summary(rows: list[dict]) -> str:
    lines = ["| shortcut | files | left to another λ | cost dB: mean | median | max |", "|---|---|---|---|---|---|"]
    groups = {"blend (gap 0.3–0.9, 5–30 % in)": [r for r in rows if "gap" in r]}
    groups |= {f"trim, {c:.0%} smaller": [r for r in rows if r.get("cut") == c] for c in CUTS}
    for name, sel in groups.items():
        cost = np.array([r["cost_db"] for r in sel if "cost_db" in r])
        left = len(sel) - len(cost)
        stats = f"{cost.mean():+.3f} | {np.median(cost):+.3f} | {cost.max():+.3f}"
        lines.append(f"| {name} | {len(cost)} | {left} | {stats} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=TrainConfig.data)
    p.add_argument("--photos", type=int, default=12)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args()
    model = codec.load()
    rng = np.random.default_rng(0)
    rows = []
    for path in tqdm(list_images(args.data)[2::3][: args.photos], desc="photos"):
        image = read_image(path).convert("RGB")
        image.thumbnail((768, 768), Image.Resampling.LANCZOS)
        rows.append({"photo": path.name} | blend_case(image, rng, model))
        rows += [{"photo": path.name} | trim_case(image, rng, cut, model) for cut in CUTS]
    text = f"Quality cost of rate control's shortcuts on {args.photos} training photos, shipped model.\n\n{summary(rows)}\n"
    (Path(args.out) / "shortcut_cost.json").write_text(json.dumps(rows, indent=1))
    (Path(args.out) / "shortcut_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
