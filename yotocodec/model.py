"""The scale-hyperprior codec of Ballé et al. (2018), every conv layer FiLM-conditioned on λ.

Read top to bottom like tensorflow-compression's ``bmshj2018.py``:

    y = g_a(x; λ)          analysis transform            (GDN)
    z = h_a(|y|; λ)        hyper-analysis
    ẑ = Q(z)               factorized (learned) prior    -> likelihoods["z"]
    σ = h_s(ẑ; λ)          hyper-synthesis gives scales
    ŷ = Q(y)               Gaussian conditional N(0, σ)  -> likelihoods["y"]
    x̂ = g_s(ŷ; λ)          synthesis transform           (IGDN)

No file or byte handling here: that is ``entropy.py``, ``bitstream.py`` and ``codec.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .conditioning import ConditionedSequential, FiLM, normalize_log_lmbda
from .lmbda import LMBDA_MAX, LMBDA_MIN

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 160
"""The fixed table of Gaussian scales σ that the entropy coder uses (log-spaced)."""
_LOG_STEP = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)


def scale_table() -> list[float]:
    """The scale table, identical on every platform (computed in float64, then rounded)."""
    return [float(np.float32(math.exp(math.log(SCALE_MIN) + i * _LOG_STEP))) for i in range(SCALE_LEVELS)]


def compressai_layers() -> tuple[type[nn.Module], type[nn.Module], type[nn.Module]]:
    """compressai's ``GDN``, ``EntropyBottleneck`` and ``GaussianConditional``, imported on
    first use: the import takes ~3 s (it loads torch_geometric and scipy.stats), which
    ``encode`` and ``decode`` do without (``modelfile.CodecModel``)."""
    with warnings.catch_warnings():  # compressai scripts modules at import with a deprecated API
        warnings.simplefilter("ignore", FutureWarning)
        from compressai.entropy_models import EntropyBottleneck, GaussianConditional
        from compressai.layers import GDN
    return GDN, EntropyBottleneck, GaussianConditional


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """compressai's ``models.utils.conv`` (a "same"-padded strided convolution)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """compressai's ``models.utils.deconv``: the output exactly ``stride ×`` the input."""
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride,
                              output_padding=stride - 1, padding=kernel_size // 2)  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored in every model file."""

    N: int = 128
    M: int = 192
    lmbda_min: float = LMBDA_MIN
    lmbda_max: float = LMBDA_MAX
    film_hidden: int = 128


def _in_float32(entropy_model: nn.Module, *tensors: Tensor, training: bool | None):
    """Call an entropy model outside autocast: likelihoods need float32 precision."""
    with torch.autocast(tensors[0].device.type, enabled=False):
        return entropy_model(*(t.float() for t in tensors), training=training)


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 autocast speeds up ``device``: CUDA, or a CPU with bf16 instructions."""
    if device.type == "cuda":
        return True
    native = (getattr(torch.cpu, n, lambda: False) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return device.type == "cpu" and any(f() for f in native)


class HyperpriorTransforms(nn.Module):
    """g_a, g_s, h_a, h_s at widths N, M, every conv layer followed by its FiLM; GDN/IGDN
    layers made by ``gdn(channels, inverse=...)``. The network a model file stores, less its
    entropy models (``ScaleHyperprior`` adds them for training, ``modelfile.CodecModel``
    their frozen tables for coding)."""

    downsampling_factor = 64  # g_a strides 2⁴, h_a a further 2²

    def __init__(self, config: ModelConfig, gdn: Callable[..., nn.Module]):
        super().__init__()
        self.config = config
        N, M, H = config.N, config.M, config.film_hidden

        def film(c: int) -> FiLM:
            return FiLM(c, H)

        self.g_a = ConditionedSequential(
            conv(3, N), film(N), gdn(N),
            conv(N, N), film(N), gdn(N),
            conv(N, N), film(N), gdn(N),
            conv(N, M), film(M),
        )  # fmt: skip
        self.g_s = ConditionedSequential(
            deconv(M, N), film(N), gdn(N, inverse=True),
            deconv(N, N), film(N), gdn(N, inverse=True),
            deconv(N, N), film(N), gdn(N, inverse=True),
            deconv(N, 3), film(3),
        )  # fmt: skip
        self.h_a = ConditionedSequential(
            conv(M, N, stride=1, kernel_size=3), film(N), nn.ReLU(inplace=True),
            conv(N, N), film(N), nn.ReLU(inplace=True),
            conv(N, N), film(N),
        )  # fmt: skip
        self.h_s = ConditionedSequential(
            deconv(N, N), film(N), nn.ReLU(inplace=True),
            deconv(N, N), film(N), nn.ReLU(inplace=True),
            conv(N, M, stride=1, kernel_size=3), film(M), nn.ReLU(inplace=True),
        )  # fmt: skip

    def condition(self, lmbda: Tensor) -> Tensor:
        """Normalised log λ, shape (B, 1), the input of every FiLM layer."""
        return normalize_log_lmbda(lmbda, self.config.lmbda_min, self.config.lmbda_max)


class ScaleHyperprior(HyperpriorTransforms):
    """Variable-rate (YOTO) scale hyperprior: ``forward(x, λ) -> x̂, likelihoods``, with
    compressai's GDN and entropy models (factorized prior on z, Gaussian conditional on y)."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        GDN, EntropyBottleneck, GaussianConditional = compressai_layers()
        super().__init__(config, GDN)
        self.entropy_bottleneck = EntropyBottleneck(config.N)
        self.gaussian_conditional = GaussianConditional(scale_table())

    def forward(self, x: Tensor, lmbda: Tensor) -> dict:
        """Training/evaluation pass; ``lmbda`` holds one λ per sample.

        ŷ enters g_s rounded (straight-through gradient) while the rate uses additive noise
        in training, so the reconstruction seen in training is the one the decoder makes.
        Under autocast (bf16 training) the entropy models still run in float32.
        """
        t = self.condition(lmbda)
        y = self.g_a(x, t).float()
        x_hat = self.g_s(y + (torch.round(y) - y).detach(), t)
        return {"x_hat": x_hat, "likelihoods": self.likelihoods(y, t)}

    def likelihoods(self, y: Tensor, t: Tensor, noisy: bool | None = None, y_values: Tensor | None = None) -> dict[str, Tensor]:
        """Likelihoods of y and z = h_a(|y|) under the hyperprior: of the latents plus uniform
        noise if ``noisy`` (default: in training mode), else of the rounded latents coded;
        y's at ``y_values`` as given instead, if given (e.g. softly rounded y)."""
        z = self.h_a(torch.abs(y), t)
        z_hat, z_likelihoods = _in_float32(self.entropy_bottleneck, z, training=noisy)
        scales = self.h_s(z_hat, t)
        if y_values is None:
            _, y_likelihoods = _in_float32(self.gaussian_conditional, y, scales, training=noisy)
        else:
            gc = self.gaussian_conditional
            y_likelihoods = gc.likelihood_lower_bound(gc._likelihood(y_values.float(), gc.lower_bound_scale(scales.float())))
        return {"y": y_likelihoods, "z": z_likelihoods}

    def aux_loss(self) -> Tensor:
        """Loss fitting the factorized prior's quantiles (CompressAI convention)."""
        return self.entropy_bottleneck.loss()

    def update(self) -> None:
        """Freeze the factorized prior into the integer CDF tables the codec uses (call after
        training; ``modelfile.save_model`` does)."""
        self.entropy_bottleneck.update(force=True)


ADDED_Z_PRIOR_SCALE = 0.1
"""Initial width of the prior of a z channel added by ``widen`` (``init_scale`` of CompressAI)."""


@torch.no_grad()
def widen(source: ScaleHyperprior, target: ScaleHyperprior) -> None:
    """Copy ``source``'s weights into ``target``, as wide or wider (N and/or M larger).

    Every channel ``target`` adds starts at exactly zero: the weights and bias producing it
    are zeroed and its FiLM is the identity, while the weights *reading* it keep their random
    init, so gradients reach it from the first step. ``target`` then makes the same x̂ and
    the same likelihoods for ``source``'s y and z channels; an added y channel (0 at the
    smallest scale) costs ~0 bits, an added z channel (0 under a narrow new prior) under a
    bit per element until its prior has learned. Training goes on from ``source``'s quality
    with the wider net's capacity.
    """
    modules = dict(source.named_modules())
    wide = dict(target.named_parameters())
    for name, p in source.named_parameters():
        q = wide[name]
        owner = modules[name.rpartition(".")[0]]
        if name.endswith("mlp.2.weight") or name.endswith("mlp.2.bias"):  # FiLM: [σ-1 | μ] halves
            q.zero_()
            for half, wide_half in zip(p.chunk(2), q.chunk(2)):
                _paste(half, wide_half)
            continue
        if isinstance(owner, (nn.Conv2d, nn.ConvTranspose2d)):
            dim = output_dim(owner) if p.dim() > 1 else 0
            q.narrow(dim, p.shape[dim], q.shape[dim] - p.shape[dim]).zero_()
        _paste(p, q)
    added = target.config.N - source.config.N
    if added:  # the added z channels' priors: narrow, not CompressAI's wide default
        narrow = compressai_layers()[1](added, init_scale=ADDED_Z_PRIOR_SCALE)
        for name, p in narrow.named_parameters():
            target.entropy_bottleneck.get_parameter(name)[-added:] = p


def output_dim(conv: nn.Module) -> int:
    """The dimension of ``conv``'s weight that indexes its output channels (1 for a transposed
    convolution, 0 otherwise); the other of the first two indexes its inputs."""
    return 1 if isinstance(conv, nn.ConvTranspose2d) else 0


def _paste(small: Tensor, big: Tensor) -> None:
    """Write ``small`` into the leading corner of ``big`` (same number of dimensions)."""
    big[tuple(slice(n) for n in small.shape)] = small
