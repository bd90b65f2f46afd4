"""How good can g_s make an image at all? The synthesis transform's ceiling, per model.

    python benchmarks/synthesis_ceiling.py MODEL [MODEL ...] [--images 6] [--steps 300] [--channels 40,70]

For central 256² crops of training photos (every 20th of ../shared/data/train; never Kodak)
at λ_max, where rate is cheapest and quality should be highest, it reports the PSNR of
g_s(ŷ) with ŷ = round(g_a(x)) (what the codec makes), of g_s(y) with y = g_a(x) unrounded,
and of g_s(y*) with y* optimised for MSE alone (``--steps`` Adam steps from g_a's y; no rate,
no rounding). If even y* stays close to g_a's, quality is capped by g_s's capacity, not by
quantization, the entropy model or g_a. Writes benchmarks/results/synthesis_ceiling.md.

``--channels K,...`` also measures the three with y (and y*) cut to the K ŷ channels
strongest at λ_max on these crops, the others held at zero: how much each channel a model uses
adds to what g_s can reach. Writes benchmarks/results/synthesis_ceiling-channels.md.
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


def training_crops(folder, count: int) -> list[torch.Tensor]:
    """Central 256² crops of every 20th photo in ``folder``, at most ``count``."""
    return [center_crop(to_tensor(read_image(f))[0], 256)[None] for f in list_images(folder)[::20][:count]]


def ceiling(model, x: torch.Tensor, steps: int, keep: torch.Tensor | None = None) -> tuple[float, float, float]:
    """PSNR of g_s(round(y)), g_s(y) and g_s(y*) at λ_max for image ``x`` (1, 3, H, W); with
    ``keep`` (1, M, 1, 1, ones and zeros) only the ŷ channels it keeps."""
    t = model.condition(torch.tensor([model.config.lmbda_max]))
    keep = torch.ones(1) if keep is None else keep
    synth = lambda y: model.g_s(y * keep, t)  # noqa: E731
    psnr = lambda y: mse_to_psnr(float(torch.mean((synth(y).clamp(0, 1) - x) ** 2)))  # noqa: E731
    with torch.no_grad():
        y = model.g_a(x, t)
        coded, unrounded = psnr(torch.round(y)), psnr(y)
    y_star = y.clone().requires_grad_(True)
    opt = torch.optim.Adam([y_star], lr=0.05)
    for _ in range(steps):
        (y_star.grad,) = torch.autograd.grad(torch.mean((synth(y_star) - x) ** 2), [y_star])
        opt.step()
    with torch.no_grad():
        return coded, unrounded, psnr(y_star)


@torch.no_grad()
def strongest(model, crops: list[torch.Tensor], k: int) -> torch.Tensor:
    """A (1, M, 1, 1) mask of the ``k`` ŷ channels with the largest RMS at λ_max over ``crops``."""
    t = model.condition(torch.tensor([model.config.lmbda_max]))
    power = torch.stack([model.g_a(x, t).pow(2).mean((0, 2, 3)) for x in crops]).mean(0)
    keep = torch.zeros(1, power.numel(), 1, 1)
    keep[0, power.argsort(descending=True)[:k]] = 1
    return keep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--channels", type=lambda v: [int(k) for k in v.split(",")], default=[],
                   help="also with only the K strongest ŷ channels, for each K in this list")
    args = p.parse_args()
    crops = training_crops(TRAIN, args.images)
    lines = [f"g_s's ceiling at λ_max on {len(crops)} central 256² crops of training photos (every 20th); "
             f"mean PSNR (dB); y* = y optimised for MSE alone, {args.steps} Adam steps.", "",
             "| model | N, M | ŷ channels | g_s(round(y)) | g_s(y) | g_s(y*) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for path in args.models:
        model = load_model(path).float()
        for param in model.parameters():
            param.requires_grad_(False)
        for k in [None, *args.channels]:
            keep = None if k is None else strongest(model, crops, k)
            rows = np.array([ceiling(model, x, args.steps, keep) for x in tqdm(crops, desc=f"{Path(path).name} {k or 'all'}")])
            cols = " | ".join(f"{v:.2f}" for v in rows.mean(0))
            lines.append(f"| {model_id(model).hex()} | {model.config.N}, {model.config.M} | {k or 'all'} | {cols} |")
    text = "\n".join(lines) + "\n"
    name = "synthesis_ceiling-channels.md" if args.channels else "synthesis_ceiling.md"
    (ROOT / "benchmarks" / "results" / name).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
