"""``encode(image, lmbda) -> bytes`` and ``decode(bytes) -> image``: the whole codec path.

image ─► pad to ×64 ─► g_a, h_a ─► ẑ symbols ─► h_s ─► σ indexes ─► ŷ symbols ─► container
container ─► ẑ ─► h_s ─► σ indexes ─► ŷ ─► g_s ─► crop ─► image
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import deterministic, entropy, inference
from .bitstream import FLAG_GRAY, BitstreamError, check_size, inspect, pack, parse  # noqa: F401 (the API's inspect)
from .files import as_rgb, source_mode, upright
from .losses import bits_per_pixel
from .model import ScaleHyperprior
from .modelfile import CodecModel, load_codec_model

DEFAULT_MODEL = Path(__file__).parent / "weights" / "default.pt"
_models: dict[Path, CodecModel] = {}
_loading = threading.Lock()
Model = CodecModel | ScaleHyperprior | str | Path | None
"""What every function here takes as ``model``: a model file (default: the shipped model), or
a network (a ``ScaleHyperprior`` should have had ``update()``)."""


def load(path: Model = None) -> CodecModel:
    """The model in ``path`` (default: the shipped model) as the codec runs it, loaded once per
    process; a network given instead of a path is used as it is."""
    if isinstance(path, CodecModel):
        return path
    if isinstance(path, ScaleHyperprior):
        return CodecModel.of(path)
    key = Path(path or DEFAULT_MODEL).resolve()
    with _loading:  # threads encoding at once load the model once
        if key not in _models:
            _models[key] = load_codec_model(key)
    return _models[key]


# --- images ---------------------------------------------------------------------
def _is_gray(image: Image.Image | np.ndarray) -> bool:
    """A one-channel source: a PIL "L"/"1" image or a 2-D array (restored as "L" on decode)."""
    return source_mode(image) == "L" if isinstance(image, Image.Image) else np.ndim(image) == 2


def checked_image(image: object) -> Image.Image | np.ndarray:
    """``image`` if the codec takes it: a PIL image, or a uint8 RGB or gray array
    (``checked_array``); anything else is a TypeError saying what to pass."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (str, os.PathLike)):
        raise TypeError(f"expected a PIL image or a uint8 array, got the path {os.fspath(image)!r}: open it first "
                        "(yotocodec.files.read_image reads it as `yoto encode` does)")  # fmt: skip
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a PIL image or a uint8 array, got {type(image).__name__}")
    return checked_array(image)


def checked_array(image: np.ndarray) -> np.ndarray:
    """``image`` as a uint8 array, RGB (H, W, 3) or gray (H, W), not empty; else a ValueError."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected a uint8 array, RGB (H, W, 3) or gray (H, W), got {a.dtype} {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("empty image")
    return a


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """An image (PIL, uint8 RGB or gray array) as a (1, 3, H, W) float tensor in [0, 1]."""
    if isinstance(image, Image.Image):
        image = np.asarray(as_rgb(upright(image)))  # as `yoto encode` reads files
    a = checked_array(image)
    a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float().div_(255.0)


def _to_image(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(inference.to_uint8(x)), "RGB")


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


# --- λ ---------------------------------------------------------------------------------
def _checked_lmbda(lmbda: float, model: CodecModel) -> float:
    """λ as the float32 the bitstream stores; raises if outside the model's trained range."""
    lo, hi = model.config.lmbda_min, model.config.lmbda_max
    try:
        value = float(lmbda)
    except (TypeError, ValueError):
        raise ValueError(f"λ must be a number, got {lmbda!r}") from None
    l32 = float(np.float32(value))
    if not (math.isfinite(value) and np.float32(lo) <= l32 <= np.float32(hi)):
        raise ValueError(f"λ={lmbda} is outside this model's trained range [{lo:g}, {hi:g}]")
    return l32


@dataclass(frozen=True)
class _Rate:
    """Where an image is coded: λ's grid index, the float32 λ stored, the FiLM input (1, 1)."""

    k: int
    lmbda: float
    t: torch.Tensor


def _rate(lmbda: float, model: CodecModel) -> _Rate:
    """``lmbda`` (checked) snapped to the deterministic λ grid."""
    lo, hi = model.config.lmbda_min, model.config.lmbda_max
    k = min(max(deterministic.snap_lmbda(_checked_lmbda(lmbda, model), lo, hi), 0), deterministic.LEVELS - 1)
    t = torch.tensor([[deterministic.film_input(k, lo, hi)]], dtype=torch.float32)
    return _Rate(k, deterministic.grid_lmbda(k, lo, hi), t)


@lru_cache(maxsize=4)  # ~24 MB each for the shipped model; repeats are a batch at one λ
def _hyper_synthesis(model: CodecModel, k: int) -> deterministic.IntegerHyperSynthesis:
    return deterministic.IntegerHyperSynthesis(model, k)


# --- the codec -------------------------------------------------------------------------
@dataclass(frozen=True)
class Analysis:
    """An image's latents y at one λ: the expensive half of ``encode`` (g_a), kept so that
    rate control can judge a λ and then pack the chosen one without computing y again."""

    model: CodecModel
    rate: _Rate
    transforms: inference.Transforms
    y: torch.Tensor
    height: int
    width: int
    gray: bool

    @property
    def side(self) -> tuple[torch.Tensor, np.ndarray]:
        """ẑ's symbols, and the scale index of every element of y (flat) from the integer h_s;
        computed once (not by ``functools.cached_property``, whose lock before Python 3.12 is
        one for all instances: threads encoding at once would wait for each other here)."""
        if "_side" not in self.__dict__:
            self.__dict__["_side"] = self._side()
        return self.__dict__["_side"]

    def _side(self) -> tuple[torch.Tensor, np.ndarray]:
        model = self.model
        with torch.inference_mode():
            z_symbols = model.z_symbols(self.transforms.h_a(torch.abs(self.y)))
            indexes = _hyper_synthesis(model, self.rate.k)(model.z_hat(z_symbols))
        return z_symbols, indexes.flatten().numpy()

    def pack(self, y_symbols: np.ndarray | None = None) -> bytes:
        """The ``.yoto`` file: ẑ and ŷ entropy coded under the integer h_s's scales; ŷ is
        round(y) unless ``y_symbols`` (flat int64, the shape of y) replaces it."""
        model = self.model
        z_symbols, indexes = self.side
        if y_symbols is None:
            y_symbols = torch.round(self.y).to(torch.int64).flatten().numpy()
        y_range = max(1, int(np.abs(y_symbols).max()))
        z_stream = entropy.encode_categorical(z_symbols[0].flatten(1).numpy(), model.z_pmfs())
        y_stream = entropy.encode_gaussian(y_symbols, indexes, model.scales(), y_range)
        flags = FLAG_GRAY if self.gray else 0
        return pack(model.id, self.rate.lmbda, self.height, self.width, y_range, z_stream, y_stream, flags)

    @torch.inference_mode()
    def decoded(self) -> Image.Image:
        """What ``decode(self.pack())`` returns, without coding: ŷ = round(y) either way."""
        return _reconstruct(self.transforms, torch.round(self.y), self.height, self.width, self.gray)


@torch.inference_mode()
def analyse(image: Image.Image | np.ndarray, lmbda: float, model: Model = None) -> Analysis:
    """y = g_a(image) at trade-off ``lmbda`` (checked and snapped as ``encode`` does)."""
    image = checked_image(image)
    model = load(model)
    rate = _rate(lmbda, model)
    check_size(*(image.shape[:2] if isinstance(image, np.ndarray) else image.size[::-1]))  # (height, width)
    x = to_tensor(image)
    height, width = x.shape[2:]
    tf = inference.Transforms(model, rate.t)
    xp = _pad(x, model.downsampling_factor)
    y = inference.analysis(tf.g_a, xp, inference.tile_for(height * width, xp.shape[2:]))
    return Analysis(model, rate, tf, y, height, width, _is_gray(image))


def blend(a: Analysis, b: Analysis, lmbda: float) -> Analysis:
    """The image's latents at a λ between ``a``'s and ``b``'s, interpolated linearly in log λ
    from theirs instead of running g_a: y moves smoothly with λ, and the file made from any
    ŷ is a valid one (``pack`` codes it under h_a, h_s at this λ, and g_s decodes it there)."""
    if a.y.shape != b.y.shape or (a.height, a.width) != (b.height, b.width):
        raise ValueError("blend needs two analyses of the same image")
    rate = _rate(lmbda, a.model)
    ta, tb = math.log(a.rate.lmbda), math.log(b.rate.lmbda)
    w = (math.log(rate.lmbda) - ta) / (tb - ta) if tb != ta else (0.0 if rate.k == a.rate.k else math.nan)
    if not 0.0 <= w <= 1.0:  # (nan: a and b share one λ, and this is another)
        raise ValueError(f"λ={lmbda:g} is not between the analyses' λ {a.rate.lmbda:g} and {b.rate.lmbda:g}")
    y = torch.lerp(a.y, b.y, w)
    return Analysis(a.model, rate, inference.Transforms(a.model, rate.t), y, a.height, a.width, a.gray)


def encode(image: Image.Image | np.ndarray, lmbda: float, model: Model = None) -> bytes:
    """Compress an image (PIL image, uint8 (H, W, 3) or gray (H, W) array) at trade-off ``lmbda``."""
    return analyse(image, lmbda, model).pack()


def _reconstruct(tf: inference.Transforms, y_hat: torch.Tensor, height: int, width: int, gray: bool) -> Image.Image:
    """x̂ = g_s(ŷ), cropped, as the PIL image ``decode`` returns (L for a grayscale source)."""
    padded = inference.STRIDE * y_hat.shape[2], inference.STRIDE * y_hat.shape[3]
    tile = inference.tile_for(height * width, padded)
    image = Image.fromarray(inference.synthesis(tf.g_s, y_hat, height, width, tile), "RGB")
    return image.convert("L") if gray else image


@torch.inference_mode()
def decode(data: bytes | bytearray | memoryview, model: Model = None) -> Image.Image:
    """Decompress a ``.yoto`` file to a PIL image (RGB, or L for a grayscale source); raises
    ``BitstreamError`` if invalid."""
    model = load(model)
    bs = parse(data)
    h = bs.header
    if h.model_id != model.id:
        raise BitstreamError(f"this file was made with model {h.model_id.hex()}, but the decoder has "
                             f"model {model.id.hex()}; pass the right model (--model, or model= in Python)")  # fmt: skip
    try:
        rate = _rate(h.lmbda, model)
    except ValueError as e:
        raise BitstreamError(f"invalid .yoto header: {e}") from None
    if h.lmbda != rate.lmbda:  # both float32 values
        raise BitstreamError(f"invalid .yoto header: λ={h.lmbda!r} is not on the format's λ grid")
    f = model.downsampling_factor
    zh, zw = -(-h.height // f), -(-h.width // f)
    tf = inference.Transforms(model, rate.t)
    z_symbols = _entropy_decoded("z", entropy.decode_categorical, bs.z_stream, model.z_pmfs(), zh * zw)
    z_hat = model.z_hat(torch.from_numpy(z_symbols).to(torch.int64).reshape(1, -1, zh, zw))
    indexes = _hyper_synthesis(model, rate.k)(z_hat)
    y_symbols = _entropy_decoded("y", entropy.decode_gaussian, bs.y_stream, indexes.flatten().numpy(),
                                 model.scales(), h.y_range)  # fmt: skip
    y_hat = torch.from_numpy(y_symbols).float().reshape(indexes.shape)
    return _reconstruct(tf, y_hat, h.height, h.width, bool(h.flags & FLAG_GRAY))


def _entropy_decoded(name: str, decode_stream: Callable[..., np.ndarray], *args: object) -> np.ndarray:
    """``decode_stream(*args)``, its failures (constriction's, or a stream that is not exactly
    what its symbols code to) raised as ``BitstreamError``."""
    try:
        return decode_stream(*args)
    except (ValueError, RuntimeError, AssertionError) as e:
        raise BitstreamError(f"corrupted .yoto payload: the {name} stream does not decode ({e})") from None


@torch.inference_mode()
def reference(image: Image.Image | np.ndarray, lmbda: float, model: Model = None) -> tuple[Image.Image, float]:
    """The model's own view of an image: its reconstruction from the encoder's round(y), and
    the bits its entropy models estimate.

    Returns ``(image, bits)``; ``bits`` is −Σlog₂ of the likelihoods of the padded latents.
    The synthesis here is the FiLM-conditioned g_s, not the folded one ``decode`` runs.
    """
    model = load(model)
    t = _rate(lmbda, model).t
    x = to_tensor(image)
    height, width = x.shape[2:]
    tf, net = inference.Transforms(model, t), model.network
    y = tf.g_a(_pad(x, model.downsampling_factor))
    z_hat, z_likelihoods = net.entropy_bottleneck(tf.h_a(torch.abs(y)), training=False)
    _, y_likelihoods = net.gaussian_conditional(y, net.h_s(z_hat, t), training=False)
    bits = float(bits_per_pixel({"y": y_likelihoods, "z": z_likelihoods}, 1)[0])
    return _to_image(net.g_s(torch.round(y), t)[:, :, :height, :width]), bits
