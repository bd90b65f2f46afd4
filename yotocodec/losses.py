"""The rate–distortion loss, with one λ per sample: ``λ·D + bpp`` (CompressAI scale).

D is 255²·MSE by default, or a weighted mix of distortion terms (``lossweights.py``), each
in the same units: MS-SSIM enters as ``MS_SSIM_SCALE·(1 − MS-SSIM)``.
"""

from __future__ import annotations

import math

import torch
from pytorch_msssim import ms_ssim
from torch import Tensor

DISTORTIONS = ("mse", "ms-ssim")
MS_SSIM_SCALE = 2000.0
"""(1 − MS-SSIM) → MSE units: CompressAI's MS-SSIM models use λ about 10³ × its MSE ones."""


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Per-sample rate in bits per pixel, shape (B,)."""
    bits = sum(-torch.log(l).flatten(1).sum(1) for l in likelihoods.values())
    return bits / (math.log(2) * num_pixels)


def ms_ssim_per_sample(x_hat: Tensor, x: Tensor) -> Tensor:
    """MS-SSIM of each sample (images in [0, 1]). The standard 11-tap window needs sides over
    160 px (4 halvings); smaller crops get the widest window that fits (7 taps at 128 px)."""
    side = min(x.shape[-2:])
    win = min(11, 2 * ((side - 1) // 32) + 1)
    if win < 3:
        raise ValueError(f"MS-SSIM needs images of at least 33 px per side, got {side}")
    return ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0, size_average=False, win_size=win)


def distortions(x_hat: Tensor, x: Tensor, names: tuple[str, ...] = ("mse",)) -> dict[str, Tensor]:
    """Per-sample distortion terms in 255²·MSE units, shape (B,) each."""
    x_hat = x_hat.float()
    terms = {}
    for name in names:
        if name == "mse":
            terms[name] = 255.0**2 * (x_hat - x).pow(2).flatten(1).mean(1)
        elif name == "ms-ssim":
            terms[name] = MS_SSIM_SCALE * (1 - ms_ssim_per_sample(x_hat, x))
        else:
            raise ValueError(f"unknown distortion {name!r}; use {', '.join(DISTORTIONS)}")
    return terms


def rd_loss(out: dict, x: Tensor, lmbda: Tensor, weigh=None) -> dict[str, Tensor]:
    """Batch mean of ``λ_i·D_i + bpp_i``; D is 255²·MSE, or ``weigh(terms)`` of the
    ``weigh.names`` terms (a ``LossWeights``, whose regularizer is added). Also returns the
    batch means of bpp, mse (in [0, 1]²) and every distortion term."""
    num_pixels = x.shape[2] * x.shape[3]
    bpp = bits_per_pixel(out["likelihoods"], num_pixels)
    terms = distortions(out["x_hat"], x, weigh.names if weigh is not None else ("mse",))
    mse = (out["x_hat"].float() - x).pow(2).flatten(1).mean(1)
    d = terms["mse"] if weigh is None else weigh(terms)
    loss = (lmbda * d + bpp).mean() + (weigh.regularizer() if weigh is not None else 0.0)
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean()} | {f"d_{k}": v.mean() for k, v in terms.items()}
