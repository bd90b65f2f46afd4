"""The probability model of y in exact integer arithmetic, identical on every platform.

A range decoder must rebuild the encoder's probability model bit for bit; a float h_s
computed with another summation order, thread count, SIMD width or device (a GPU's TF32
convolutions) can move a scale across a table boundary and desynchronise the whole y
stream. Following Ballé, Johnston & Minnen (ICLR 2019, "Integer networks for data
compression with latent-variable models"), the path ẑ → scale indexes is computed on
integers here:

- λ is snapped to one of ``LEVELS`` log-spaced values, so the FiLM input t = 2k/(LEVELS−1) − 1
  is an exact rational;
- each FiLM MLP of h_s is evaluated in float64 by correctly rounded operations in a fixed
  order (no BLAS, no fused multiply-add), so σ(λ), μ(λ) are the same everywhere, and folded
  into its convolution, whose weights are then rounded to integers (steps of 2^-W_BITS);
- activations are integers (steps of 2^-A_BITS). Every convolution sums integers whose
  magnitude is checked to stay below 2^53, so float64 arithmetic computes it exactly in any
  order (FMA or not); re-scaling divides by a power of two and rounds; ReLU is exact;
- the scale index is the number of integer thresholds (the scale table's geometric
  midpoints) at or below the final activation.

g_a, h_a and g_s stay in float: they change the image, not the decodability.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import inference
from .conditioning import FiLM, fold_film
from .model import output_dim

if TYPE_CHECKING:
    from .model import HyperpriorTransforms

LEVELS = 1 << 16
"""λ grid: log-spaced over the model's range, relative step ≈ 8·10⁻⁵ for the default range."""
A_BITS, W_BITS = 12, 14
"""Fractional bits of activations and of folded weights."""
_EXACT = 2.0**53


def snap_lmbda(lmbda: float, lo: float, hi: float) -> int:
    """Index k of the grid value nearest (in log) to ``lmbda`` ∈ [lo, hi]."""
    if hi == lo:
        return 0
    return int(round((math.log(lmbda) - math.log(lo)) / (math.log(hi) - math.log(lo)) * (LEVELS - 1)))


def grid_lmbda(k: int, lo: float, hi: float) -> float:
    """The λ of grid index k (as the float32 the bitstream stores)."""
    if hi == lo:
        return float(np.float32(lo))
    return float(np.float32(math.exp(math.log(lo) + k / (LEVELS - 1) * (math.log(hi) - math.log(lo)))))


def film_input(k: int, lo: float, hi: float) -> float:
    """The FiLM input of grid index k: exactly 2k/(LEVELS−1) − 1 (0 for a fixed-λ model)."""
    return 0.0 if hi == lo else 2.0 * k / (LEVELS - 1) - 1.0


def film_coefficients(film: FiLM, t: float) -> tuple[np.ndarray, np.ndarray]:
    """σ(t), μ(t) in float64 from correctly rounded operations in a fixed order (the same on
    every platform)."""
    w1, b1 = (p.detach().double().numpy().ravel() for p in (film.mlp[0].weight, film.mlp[0].bias))
    w2, b2 = (p.detach().double().numpy() for p in (film.mlp[2].weight, film.mlp[2].bias))
    hidden = np.maximum(w1 * t + b1, 0.0)  # separate ufuncs: no fused multiply-add
    out = b2.copy()
    for column, h in zip(w2.T, hidden):  # a fixed order of correctly rounded steps
        out = out + column * h
    s, mu = np.split(out, 2)
    return 1.0 + s, mu


class IntegerLayer(nn.Module):
    """One conv (or transposed conv, in sub-pixel form) + FiLM of h_s on integer activations."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, film: FiLM, t: float, relu: bool):
        super().__init__()
        sigma, mu = film_coefficients(film, t)
        w, b = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()
        transposed = isinstance(conv, nn.ConvTranspose2d)
        w, b = fold_film(w, b, sigma, mu, output_dim(conv))
        weight = torch.from_numpy(np.round(w * 2.0**W_BITS))
        bias = torch.from_numpy(np.round(b * 2.0 ** (A_BITS + W_BITS)))
        if transposed:  # the same sums as an ordinary convolution + pixel shuffle (exact)
            phased = inference.subpixel(weight, bias, conv.stride[0], conv.padding[0])
            self.conv, self.shuffle = phased[0], phased[1]
        else:
            self.shuffle = nn.Identity()
            self.conv = inference.frozen_layer(nn.Conv2d, weight, bias, stride=conv.stride, padding=conv.padding)
        self.relu = relu
        self.bound = float(self.conv.weight.abs().sum(dim=(1, 2, 3)).max()), float(self.conv.bias.abs().max())

    def forward(self, x: Tensor) -> Tensor:
        if float(x.abs().max()) * self.bound[0] + self.bound[1] >= _EXACT:
            raise ValueError("hyper-synthesis activations too large for exact arithmetic")
        x = torch.floor(self.shuffle(self.conv(x)) / 2.0**W_BITS + 0.5)
        return x.clamp_(min=0) if self.relu else x


class IntegerHyperSynthesis(nn.Module):
    """h_s at grid index k: ẑ → scale indexes, in exact integer arithmetic."""

    def __init__(self, model: HyperpriorTransforms, k: int):
        super().__init__()
        cfg = model.config
        t = film_input(k, cfg.lmbda_min, cfg.lmbda_max)
        items = list(model.h_s)
        layers = []
        for i, layer in enumerate(items):
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                relu = i + 2 < len(items) and isinstance(items[i + 2], nn.ReLU)
                layers.append(IntegerLayer(layer, items[i + 1], t, relu))
        self.layers = nn.Sequential(*layers)
        table = model.scales()
        self.thresholds = torch.from_numpy(np.ceil(np.sqrt(table[:-1] * table[1:]) * 2.0**A_BITS))

    @torch.no_grad()
    def forward(self, z_hat: Tensor) -> Tensor:
        """Scale-table indexes (int64, shape of y) for ẑ (float, exact integers + medians)."""
        x = torch.round(z_hat.double() * 2.0**A_BITS)
        scales = self.layers(x)
        return torch.searchsorted(self.thresholds, scales.contiguous(), right=True)
