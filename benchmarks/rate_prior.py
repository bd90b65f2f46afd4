"""Fit rate control's prior on training photos (never Kodak) and print it for ratecontrol.py.

The prior: the typical curves F of log bpp and of PSNR over log λ (the mean over the photos
at ``TYPICAL_AT`` of the model's λ range); how a photo's curve scale s goes with its offset d from F (the
curve is s·(F − mean F) + mean F + d); and how d goes with the photo's activity (mean
absolute difference of neighbouring pixels, in log), which the search reads before its
first encode. Writes benchmarks/results/rate_prior.json.

    python benchmarks/rate_prior.py [--every 3] [--side 768]
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


def curves(image: Image.Image, model) -> dict[str, list[float]]:
    """log bpp and PSNR of ``image`` at every λ of ``ratecontrol.typical_log_lmbdas``."""
    out = {"rate": [], "psnr": []}
    for t in ratecontrol.typical_log_lmbdas(model.config.lmbda_min, model.config.lmbda_max):
        data = codec.encode(image, float(np.float32(math.exp(t))), model)
        out["rate"].append(math.log(8 * len(data) / (image.width * image.height)))
        out["psnr"].append(psnr(image, codec.decode(data, model)))
    return out


def fit(photos: list[dict], curve: str) -> dict:
    """F, the slope-per-offset b (s ≈ 1 + b·d) and the activity line (d ≈ a0 + a1·activity)."""
    f = np.array([p[curve] for p in photos])
    F = f.mean(axis=0)
    centred = F - F.mean()
    s = (f - f.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
    d = f.mean(axis=1) - F.mean()
    activity = np.array([p["activity"] for p in photos])
    a1, a0 = np.polyfit(activity, d, 1)
    return {"F": F.round(3).tolist(), "slope_per_offset": float((s - 1) @ d / (d @ d)),
            "slope_offset_correlation": float(np.corrcoef(s, d)[0, 1]), "activity": [float(a0), float(a1)],
            "activity_offset_correlation": float(np.corrcoef(activity, d)[0, 1]),
            "offset_spread": float(d.std()), "offset_spread_given_activity": float((d - a0 - a1 * activity).std())}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=TrainConfig.data)
    p.add_argument("--every", type=int, default=3, help="use every n-th photo of the folder")
    p.add_argument("--side", type=int, default=768, help="photos are shrunk to fit this side, like Kodak's")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rate_prior.json"))
    args = p.parse_args()
    model = codec.load()
    photos = []
    for path in tqdm(list_images(args.data)[:: args.every], desc="photos"):
        image = read_image(path).convert("RGB")
        image.thumbnail((args.side, args.side), Image.Resampling.LANCZOS)
        photos.append({"name": path.name, "activity": ratecontrol.activity(image)} | curves(image, model))
    result = {"photos": len(photos), "every": args.every, "side": args.side,
              "log_lmbda": ratecontrol.typical_log_lmbdas(model.config.lmbda_min, model.config.lmbda_max).tolist()} | {c: fit(photos, c) for c in ("rate", "psnr")}  # fmt: skip
    Path(args.out).write_text(json.dumps(result | {"per_photo": photos}, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
