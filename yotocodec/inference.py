"""Inference transforms for one λ: FiLM folded into the convolutions, channels-last layout.

λ is constant over an image, so each FiLM ``σ·f + μ`` that follows a convolution folds into
that convolution once per call: ``W' = σ·W``, ``b' = σ·b + μ`` (per output channel). The
transforms then run in the channels-last memory layout, where oneDNN's convolutions (GDN's
1×1 one above all) run 1.3–3× faster on a CPU than in NCHW. A transposed convolution with
few output channels (g_s's last, to RGB) is slow there; it becomes the equivalent ordinary
convolution producing all ``stride²`` output phases at once, followed by a pixel shuffle
(measured on this project's CPU for 64→3 at 384×256: 11 ms vs 24 ms; for 64→64 the
transposed convolution is the faster one, 32 ms vs 44 ms, and stays).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from .conditioning import ConditionedSequential, FiLM, fold_film
from .model import output_dim

SUBPIXEL_BELOW = 8
"""Transposed convolutions with fewer output channels than this run in sub-pixel form."""


def frozen_layer(cls: type[nn.Conv2d] | type[nn.ConvTranspose2d], weight: Tensor, bias: Tensor, **geometry) -> nn.Module:
    """A ``cls`` holding ``weight`` (channels-last) and ``bias``, without random initialisation."""
    a, b, k = weight.shape[:3]
    in_ch, out_ch = (b, a) if cls is nn.Conv2d else (a, b)
    layer = cls(in_ch, out_ch, k, device="meta", **geometry)
    layer.weight = nn.Parameter(weight.contiguous(memory_format=torch.channels_last), requires_grad=False)
    layer.bias = nn.Parameter(bias, requires_grad=False)
    return layer


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
    conv = frozen_layer(nn.Conv2d, phased.reshape(out_ch * s * s, in_ch, taps, taps), bias.repeat_interleave(s * s), padding=d_hi)
    return nn.Sequential(conv, nn.PixelShuffle(s))


def _fold(layer: nn.Module, film: FiLM, t: Tensor) -> nn.Module:
    sigma, mu = (c.flatten() for c in film.coefficients(t))
    transposed = isinstance(layer, nn.ConvTranspose2d)
    weight, bias = fold_film(layer.weight, layer.bias, sigma, mu, output_dim(layer))
    if not transposed:
        return frozen_layer(nn.Conv2d, weight, bias, stride=layer.stride, padding=layer.padding)
    if layer.out_channels < SUBPIXEL_BELOW:
        return subpixel(weight, bias, layer.stride[0], layer.padding[0])
    return frozen_layer(nn.ConvTranspose2d, weight, bias, stride=layer.stride, padding=layer.padding,
                  output_padding=layer.output_padding)  # fmt: skip


class FrozenGDN(nn.Module):
    """A GDN/IGDN layer (compressai's ``GDN``, or ``GDNParameters``) with γ, β reparametrised
    once and its elementwise steps in place (on a CPU, allocating each large intermediate costs
    about as much as computing it), except when a gradient flows through it
    (``yotocodec.refine``): autograd keeps the intermediates."""

    def __init__(self, gdn: nn.Module):
        super().__init__()
        c = gdn.beta.numel()
        self.beta, self.gamma = gdn.beta_reparam(gdn.beta), gdn.gamma_reparam(gdn.gamma).reshape(c, c, 1, 1)
        self.inverse = gdn.inverse

    def forward(self, x: Tensor) -> Tensor:
        norm = F.conv2d(x * x, self.gamma, self.beta)
        if x.requires_grad:
            return x * (norm.sqrt() if self.inverse else norm.rsqrt())
        return (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(x)


class _Bound(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("bound", torch.empty(1))


class _NonNegative(nn.Module):
    """compressai's ``NonNegativeParametrizer`` forward: max(p, bound)² − pedestal."""

    def __init__(self):
        super().__init__()
        self.register_buffer("pedestal", torch.empty(1))
        self.lower_bound = _Bound()

    def forward(self, p: Tensor) -> Tensor:
        return torch.max(p, self.lower_bound.bound) ** 2 - self.pedestal


class GDNParameters(nn.Module):
    """A GDN/IGDN layer as a model file stores it: β, γ and their reparametrisation's bound
    and pedestal, under the same names as in compressai's ``GDN``, which the codec's network
    (``modelfile.CodecModel``) holds instead, so as to be built without importing compressai."""

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.empty(channels))
        self.gamma = nn.Parameter(torch.empty(channels, channels))
        self.beta_reparam, self.gamma_reparam = _NonNegative(), _NonNegative()

    def forward(self, x: Tensor) -> Tensor:
        return FrozenGDN(self)(x)


def _is_gdn(layer: nn.Module) -> bool:
    return hasattr(layer, "gamma_reparam")  # compressai's GDN or GDNParameters


class ChannelsLast(nn.Sequential):
    """``nn.Sequential`` that runs in the channels-last memory layout (same values, same shapes)."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x.contiguous(memory_format=torch.channels_last))


def fold(seq: ConditionedSequential, t: Tensor) -> ChannelsLast:
    """``seq`` at conditioning ``t`` (shape (1, 1)) with every conv + FiLM pair folded."""
    layers, items = [], list(seq)
    for i, layer in enumerate(items):
        if isinstance(layer, FiLM):
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        if isinstance(nxt, FiLM):
            layer = _fold(layer, nxt, t)
        layers.append(FrozenGDN(layer) if _is_gdn(layer) else layer)
    return ChannelsLast(*layers)


class Transforms:
    """g_a, h_a, h_s, g_s of a model at one conditioning value ``t`` (normalised log λ,
    shape (1, 1)) as plain modules, each folded on first use (an encoder never needs g_s)."""

    NAMES = ("g_a", "h_a", "h_s", "g_s")

    def __init__(self, model: nn.Module, t: Tensor):
        self._model, self._t = model, t

    def __getattr__(self, name: str) -> ChannelsLast:
        if name not in self.NAMES:
            raise AttributeError(name)
        with torch.no_grad():
            folded = fold(getattr(self._model, name), self._t)
        setattr(self, name, folded)
        return folded



# --- large images ----------------------------------------------------------------------
TILE, HALO = 32, 4
"""Large images go through g_a and g_s in tiles of TILE latents (512 px) with HALO latents
(64 px) of context on each side, beyond both transforms' receptive fields, so memory is
bounded by one tile while y and x̂ match the whole-image result up to float rounding."""
LARGE = 1 << 22
"""Images with more pixels than this (4 megapixels) are processed in tiles."""
STRIDE = 16
"""Pixels per latent of y (g_a downsamples 2⁴)."""


def _spans(n: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(start, stop) of each tile along an axis of ``n`` latents, and of its haloed input."""
    return [(a, min(a + tile, n), max(0, a - halo), min(n, a + tile + halo)) for a in range(0, n, tile)]


def tile_for(pixels: int, padded: tuple[int, int]) -> int:
    """TILE (in latents) for a large image; one tile covering the padded image otherwise."""
    return TILE if pixels > LARGE else max(padded) // STRIDE


def _tiles(rows: int, cols: int, tile: int, halo: int, desc: str):
    """Every (row span, column span) of a tiled pass, with a progress bar on a terminal's
    stderr when there are several tiles (a large image; ~1 s per tile)."""
    tiles = list(itertools.product(_spans(rows, tile, halo), _spans(cols, tile, halo)))
    return tqdm(tiles, desc=desc, unit="tile", file=sys.stderr, leave=False, disable=None if len(tiles) > 1 else True)


def analysis(g_a: nn.Module, x: Tensor, tile: int, halo: int = HALO) -> Tensor:
    """y = g_a(x) (sides of x multiples of STRIDE), computed tile by tile."""
    f = STRIDE
    rows, cols = x.shape[2] // f, x.shape[3] // f
    y = None
    for (r0, r1, i0, i1), (c0, c1, j0, j1) in _tiles(rows, cols, tile, halo, "analysis"):
        out = g_a(x[:, :, i0 * f : i1 * f, j0 * f : j1 * f])
        y = out.new_empty(1, out.shape[1], rows, cols) if y is None else y
        y[:, :, r0:r1, c0:c1] = out[:, :, r0 - i0 : r1 - i0, c0 - j0 : c1 - j0]
    return y


def to_uint8(x: Tensor) -> np.ndarray:
    """An (1, C, H, W) tensor in [0, 1] as a uint8 (H, W, C) array."""
    return x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def synthesis(g_s: nn.Module, y_hat: Tensor, height: int, width: int, tile: int, halo: int = HALO) -> np.ndarray:
    """x̂ = g_s(ŷ) cropped to height × width, tile by tile, straight into a uint8 (H, W, 3) array."""
    f = STRIDE
    image = np.empty((height, width, 3), dtype=np.uint8)
    for (r0, r1, i0, i1), (c0, c1, j0, j1) in _tiles(y_hat.shape[2], y_hat.shape[3], tile, halo, "synthesis"):
        rows, cols = slice(r0 * f, min(r1 * f, height)), slice(c0 * f, min(c1 * f, width))
        if rows.start >= rows.stop or cols.start >= cols.stop:
            continue
        x = g_s(y_hat[:, :, i0:i1, j0:j1])
        top, left = (r0 - i0) * f, (c0 - j0) * f
        image[rows, cols] = to_uint8(x[:, :, top : top + rows.stop - rows.start, left : left + cols.stop - cols.start])
    return image
