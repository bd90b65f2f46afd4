"""Rate control on an image folder: does ``encode(size=|bpp=|psnr=)`` hit its targets, and how fast?

For every image and target, a target counts as reachable when it lies between what the
model gives at λ_min and at λ_max; for those, it reports how often the result is within
tolerance on the allowed side (size and bpp: −2 %…0; PSNR: 0…+0.1 dB), the λ values it
tried and how many of those ran g_a (full encodes; the others blended two tries' latents),
and the time against one fixed-λ encode of the same image (medians of 3 runs each). Writes
``benchmarks/results/rate_control.{json,md}``. With ``--refine STEPS``, every encode (the
range's ends, the reference encode and each try) is refined that long, runs are timed once,
and the results go to ``rate_control-refineSTEPS.{json,md}``.

    python benchmarks/rate_control.py [--dataset kodak|PATH] [--refine STEPS]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rd import ROOT, find_dataset
from yotocodec import codec, ratecontrol
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.metrics import psnr
from yotocodec.modelfile import model_id

TARGETS = [("size", 12_000), ("size", 25_000), ("size", 50_000), ("bpp", 0.25), ("bpp", 0.5),
           ("bpp", 0.75), ("psnr", 27.0), ("psnr", 28.0), ("psnr", 29.0)]  # fmt: skip


def _value(kind: str, data: bytes, image, model) -> float:
    if kind == "psnr":
        return psnr(image, codec.decode(data, model))
    return float(len(data)) if kind == "size" else 8 * len(data) / (image.width * image.height)


def _timed(fn, *args, repeat: int = 3):
    """``fn(*args)`` and its median time over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times))


def run_image(image, model, refine: int = 0) -> list[dict]:
    repeat = 1 if refine else 3
    encode = lambda lm: ratecontrol.encode(image, lm, model=model, refine=refine)  # noqa: E731
    ends = {lm: encode(lm) for lm in (model.config.lmbda_min, model.config.lmbda_max)}
    _, encode_s = _timed(encode, 0.01, repeat=repeat)
    rows = []
    for kind, target in TARGETS:
        lo, hi = (_value(kind, data, image, model) for data in ends.values())
        r, seconds = _timed(ratecontrol.encode_to, image, kind, target, model, False, refine, repeat=repeat)
        rows.append({"kind": kind, "target": target, "value": r.value, "lmbda": r.lmbda, "reached": r.reached,
                     "reachable": lo <= target <= hi, "probes": r.probes, "encodes": r.encodes,
                     "time_ratio": seconds / encode_s})  # fmt: skip
    return rows


def summary(rows: list[dict]) -> str:
    lines = ["| target | reachable images | within tolerance | λ tried (mean / max) | full encodes (mean / max) "
             "| time ÷ one encode (mean / max) | over 3× |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, target in TARGETS:
        sel = [r for r in rows if (r["kind"], r["target"]) == (kind, target) and r["reachable"]]
        if not sel:
            lines.append(f"| {kind} {target:g} | 0 | – | – | – | – | – |")
            continue
        probes, encodes, ratio = ([r[k] for r in sel] for k in ("probes", "encodes", "time_ratio"))
        lines.append(f"| {kind} {target:g} | {len(sel)} | {sum(r['reached'] for r in sel)} | "
                     f"{np.mean(probes):.1f} / {max(probes)} | {np.mean(encodes):.1f} / {max(encodes)} | "
                     f"{np.mean(ratio):.2f} / {max(ratio):.2f} | {sum(x > 3 for x in ratio)} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="kodak")
    p.add_argument("--model")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--refine", type=int, default=0, metavar="STEPS", help="refine every encode this long")
    args = p.parse_args()
    model = codec.load(args.model)
    files = list_images(find_dataset(args.dataset))
    rows = []
    for f in tqdm(files, desc="images"):
        rows += [{"image": f.name} | r for r in run_image(read_image(f), model, args.refine)]
    out, name = Path(args.out), "rate_control" + (f"-refine{args.refine}" if args.refine else "")
    how = f", every encode refined {args.refine} steps (times: one run)" if args.refine else ""
    where = ", ".join(f.stem for f in files) if Path(args.dataset).is_dir() else args.dataset  # a folder: its images
    text = (f"Rate control on {where} ({len(files)} images), model {model_id(model).hex()}{how}.\n\n"
            f"{summary(rows)}\n")
    (out / f"{name}.json").write_text(json.dumps(rows, indent=1))
    (out / f"{name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
