"""How good can g_s make an image at all? The synthesis transform's ceiling, per model.

    python benchmarks/synthesis_ceiling.py MODEL [MODEL ...] [--images 6] [--steps 300]

For central 256² crops of training photos (every 20th of ../shared/data/train; never Kodak)
at λ_max, where rate is cheapest and quality should be highest, it reports the PSNR of
g_s(ŷ) with ŷ = round(g_a(x)) (what the codec makes), of g_s(y) with y = g_a(x) unrounded,
and of g_s(y*) with y* optimised for MSE alone (``--steps`` Adam steps from g_a's y; no rate,
no rounding). If even y* stays close to g_a's, quality is capped by g_s's capacity, not by
quantization, the entropy model or g_a. Writes benchmarks/results/synthesis_ceiling.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rd import ROOT
from yotocodec.codec import to_tensor
from yotocodec.data import center_crop, list_images
from yotocodec.files import read_image
from yotocodec.metrics import mse_to_psnr
from yotocodec.modelfile import load_model, model_id

TRAIN = ROOT.parent / "shared" / "data" / "train"


def ceiling(model, x: torch.Tensor, steps: int) -> tuple[float, float, float]:
    """PSNR of g_s(round(y)), g_s(y) and g_s(y*) at λ_max for image ``x`` (1, 3, H, W)."""
    t = model.condition(torch.tensor([model.config.lmbda_max]))
    psnr = lambda y: mse_to_psnr(float(torch.mean((model.g_s(y, t).clamp(0, 1) - x) ** 2)))  # noqa: E731
    with torch.no_grad():
        y = model.g_a(x, t)
        coded, unrounded = psnr(torch.round(y)), psnr(y)
    y_star = y.clone().requires_grad_(True)
    opt = torch.optim.Adam([y_star], lr=0.05)
    for _ in range(steps):
        (y_star.grad,) = torch.autograd.grad(torch.mean((model.g_s(y_star, t) - x) ** 2), [y_star])
        opt.step()
    with torch.no_grad():
        return coded, unrounded, psnr(y_star)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    crops = [center_crop(to_tensor(read_image(f))[0], 256)[None] for f in list_images(TRAIN)[::20][: args.images]]
    lines = [f"g_s's ceiling at λ_max on {len(crops)} central 256² crops of training photos (every 20th); "
             f"mean PSNR (dB); y* = y optimised for MSE alone, {args.steps} Adam steps.", "",
             "| model | N, M | g_s(round(y)) | g_s(y) | g_s(y*) |", "|---|---|---|---|---|"]  # fmt: skip
    for path in args.models:
        model = load_model(path)
        for param in model.parameters():
            param.requires_grad_(False)
        rows = np.array([ceiling(model, x, args.steps) for x in tqdm(crops, desc=Path(path).name)])
        cols = " | ".join(f"{v:.2f}" for v in rows.mean(0))
        lines.append(f"| {model_id(model).hex()} | {model.config.N}, {model.config.M} | {cols} |")
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "synthesis_ceiling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
