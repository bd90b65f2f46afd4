"""The rate–distortion loss, with one λ per sample: ``λ·255²·MSE + bpp`` (CompressAI scale)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Per-sample rate in bits per pixel, shape (B,)."""
    bits = sum(-torch.log(l).flatten(1).sum(1) for l in likelihoods.values())
    return bits / (math.log(2) * num_pixels)


def rd_loss(out: dict, x: Tensor, lmbda: Tensor) -> dict[str, Tensor]:
    """Batch-mean of ``λ_i·255²·MSE_i + bpp_i``; also returns mse and bpp (batch means)."""
    num_pixels = x.shape[2] * x.shape[3]
    bpp = bits_per_pixel(out["likelihoods"], num_pixels)
    mse = (out["x_hat"].float() - x).pow(2).flatten(1).mean(1)
    loss = (lmbda * 255.0**2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean()}
