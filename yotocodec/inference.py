"""Inference transforms for one λ: FiLM folded into the convolutions, sub-pixel synthesis.

λ is constant over an image, so each FiLM ``σ·f + μ`` that follows a convolution folds into
that convolution once per call: ``W' = σ·W``, ``b' = σ·b + μ`` (per output channel). Each
strided transposed convolution of g_s and h_s then becomes the equivalent ordinary
convolution producing all ``stride²`` output phases at once, followed by a pixel shuffle:
the same sums, in the layout CPUs run fastest (a 5×5 stride-2 ``ConvTranspose2d`` runs at
about half the throughput of a ``Conv2d`` on this project's CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .conditioning import ConditionedSequential, FiLM


@dataclass
class Transforms:
    """g_a, h_a, h_s, g_s of a model at one λ, as plain (unconditioned) modules."""

    g_a: nn.Module
    h_a: nn.Module
    h_s: nn.Module
    g_s: nn.Module


def _conv(weight: Tensor, bias: Tensor, stride: int, padding: int) -> nn.Conv2d:
    out_ch, in_ch, k, _ = weight.shape
    conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=padding)
    conv.weight.data, conv.bias.data = weight, bias
    return conv


def subpixel(weight: Tensor, bias: Tensor, stride: int, padding: int) -> nn.Module:
    """A ``Conv2d`` + ``PixelShuffle`` equal to ``ConvTranspose2d(weight, bias, stride, padding)``
    with the output padding that makes the output exactly ``stride ×`` the input (CompressAI's
    ``deconv``).

    Output phase ``a`` (per axis) of input position ``m`` sums ``x[m + d]·w[a + padding − stride·d]``
    over the offsets ``d`` that keep the tap inside the kernel.
    """
    in_ch, out_ch, k, _ = weight.shape
    s, p = stride, padding
    d_lo = min(-((k - 1 - a - p) // s) for a in range(s))  # ceil((a + p − k + 1) / s)
    d_hi = max((a + p) // s for a in range(s))
    if d_lo != -d_hi:
        raise ValueError(f"unsupported transposed convolution (kernel {k}, stride {s}, padding {p})")
    taps = d_hi - d_lo + 1
    phased = weight.new_zeros(out_ch, s, s, in_ch, taps, taps)
    for a in range(s):
        for t in range(taps):
            ky = a + p - s * (t + d_lo)
            if 0 <= ky < k:
                for b in range(s):
                    for u in range(taps):
                        kx = b + p - s * (u + d_lo)
                        if 0 <= kx < k:
                            phased[:, a, b, :, t, u] = weight[:, :, ky, kx].T
    conv = _conv(phased.reshape(out_ch * s * s, in_ch, taps, taps), bias.repeat_interleave(s * s), 1, d_hi)
    return nn.Sequential(conv, nn.PixelShuffle(s))


def _fold(layer: nn.Module, film: FiLM, t: Tensor) -> nn.Module:
    sigma, mu = (c.flatten() for c in film.coefficients(t))
    bias = layer.bias * sigma + mu
    if isinstance(layer, nn.ConvTranspose2d):
        return subpixel(layer.weight * sigma[None, :, None, None], bias, layer.stride[0], layer.padding[0])
    return _conv(layer.weight * sigma[:, None, None, None], bias, layer.stride[0], layer.padding[0])


def fold(seq: ConditionedSequential, t: Tensor) -> nn.Sequential:
    """``seq`` at conditioning ``t`` (shape (1, 1)) with every conv + FiLM pair folded."""
    layers, items = [], list(seq)
    for i, layer in enumerate(items):
        if isinstance(layer, FiLM):
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        layers.append(_fold(layer, nxt, t) if isinstance(nxt, FiLM) else layer)
    return nn.Sequential(*layers)


@torch.no_grad()
def transforms(model, t: Tensor) -> Transforms:
    """The model's four transforms at one conditioning value ``t`` (normalised log λ, (1, 1))."""
    return Transforms(*(fold(getattr(model, name), t) for name in ("g_a", "h_a", "h_s", "g_s")))
