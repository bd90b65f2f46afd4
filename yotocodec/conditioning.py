"""λ conditioning (YOTO, Dosovitskiy & Djolonga 2020): log-λ normalisation and FiLM.

Every conv layer of the codec is followed by a FiLM layer ``f' = σ(λ)·f + μ(λ)`` whose
per-channel σ, μ come from a one-hidden-layer MLP fed with the normalised log λ.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def normalize_log_lmbda(lmbda: Tensor, lmbda_min: float, lmbda_max: float) -> Tensor:
    """Map λ ∈ [λ_min, λ_max] log-linearly onto [-1, 1]; returns shape (B, 1).

    A fixed-λ model (λ_min = λ_max) gets 0 for its one λ.
    """
    lo, hi = math.log(lmbda_min), math.log(lmbda_max)
    if hi == lo:
        return torch.zeros_like(lmbda).reshape(-1, 1)
    t = (torch.log(lmbda.reshape(-1, 1)) - lo) / (hi - lo)
    return 2.0 * t - 1.0


def fold_film(weight, bias, sigma, mu, out_dim: int):
    """A conv's weight and bias with the FiLM after it folded in (tensors or arrays):
    σ·(W∗x + b) + μ = (σW)∗x + (σb + μ), σ scaling the weight's output channels, its dimension
    ``out_dim`` (``model.output_dim``)."""
    shape = [1, 1, 1, 1]
    shape[out_dim] = -1
    return weight * sigma.reshape(shape), bias * sigma + mu


def sample_lmbda(n: int, lmbda_min: float, lmbda_max: float, generator=None) -> Tensor:
    """Draw ``n`` values of λ log-uniformly from [λ_min, λ_max] (one per training sample)."""
    u = torch.rand(n, generator=generator)
    return torch.exp(math.log(lmbda_min) + u * (math.log(lmbda_max) - math.log(lmbda_min)))


class _Affine(torch.autograd.Function):
    """``f·σ + μ`` with σ, μ per (sample, channel): one pass forward, no temporaries kept.

    Autograd's ``f * σ + μ`` writes two full-size tensors forward and three backward; on a
    CPU these memory-bound passes are most of FiLM's training cost.
    """

    @staticmethod
    def forward(ctx, f: Tensor, sigma: Tensor, mu: Tensor) -> Tensor:
        ctx.save_for_backward(f, sigma)
        return torch.addcmul(mu.to(f.dtype), f, sigma.to(f.dtype))

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f, sigma = ctx.saved_tensors
        d_sigma = (g * f).sum((2, 3), keepdim=True).sum_to_size(sigma.shape)
        d_mu = g.sum((2, 3), keepdim=True).sum_to_size(sigma.shape)
        return g * sigma.to(g.dtype), d_sigma.to(sigma.dtype), d_mu.to(sigma.dtype)


class FiLM(nn.Module):
    """Per-channel affine modulation ``f·σ(t) + μ(t)``, initialised to the identity."""

    def __init__(self, channels: int, hidden: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """σ and μ for normalised log λ ``t`` (B, 1), each shaped (B, C, 1, 1)."""
        s, mu = self.mlp(t).chunk(2, dim=1)
        return (1.0 + s)[..., None, None], mu[..., None, None]

    def forward(self, f: Tensor, t: Tensor) -> Tensor:
        return _Affine.apply(f, *self.coefficients(t))


class ConditionedSequential(nn.Sequential):
    """``nn.Sequential`` whose FiLM layers also receive the conditioning ``t``."""

    def forward(self, x: Tensor, t: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, t) if isinstance(layer, FiLM) else layer(x)
        return x
