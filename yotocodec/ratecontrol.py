"""Rate control: the λ that hits a file size, a bpp or a PSNR, found with the one model.

File size and PSNR both grow monotonically and smoothly with log λ, and the curves of
different images are, to a good approximation, one typical curve F shifted and scaled:
f(log λ) ≈ s·F(log λ) + δ, with δ largely set by how busy the image is (``activity``). The
search probes with real encodes on the codec's λ grid: first where a typical image of that
activity meets the target, then where the fitted curve (δ from one probe; s and δ from the
two probes nearest the target) meets it, and once two probes bracket the target, the fitted
chord between them (with the Illinois rule for bent stretches, like the steep one some
images show near λ_min). Every probe is exact (a PSNR probe rebuilds the decoder's own image
from y and is entropy coded only if chosen), so what is reported is exact. Inside a bracket,
a probe blends the latents of the two probes around it (``codec.blend``) instead of running
g_a, for a fifth of an encode. The answer is the probe closest to the target on the allowed
side: sizes and bpp at or below it (within 2 %), PSNR at or above it (within 0.1 dB). A
target the whole range beats on its allowed side (a size larger than λ_max's file, a PSNR
below λ_min's) is met by that end of the range; one beyond it on the other side gets the
nearest end, flagged as not reached, or a ``TargetError`` when ``strict``. With refinement,
every probe's latents are refined before it is measured: the same search on the refined
curve, one refinement per probe.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import codec, deterministic, entropy
from .bitstream import YotoError
from .lmbda import LMBDA_MAX, LMBDA_MIN
from .files import as_coded, source_mode
from .metrics import psnr as psnr_db
from .modelfile import CodecModel
from .refine import refine as refined

KINDS = ("size", "bpp", "psnr")
SETTINGS = ("lmbda", "quality", *KINDS)
"""Ways to choose the rate, one at a time: λ itself, quality 1..100, or a target."""
OPTIONS = ("strict", "refine", "model")
"""``encode``'s keyword arguments besides the one setting."""
TOLERANCE = {"size": 0.02, "bpp": 0.02, "psnr": 0.1}
"""Relative for size and bpp (below the target), in dB for PSNR (above the target)."""
MAX_PROBES = 10
TRIM = 0.03
"""A file at most this much over a size or bpp target is cut to it without another encode
(``_trimmed``); the search aims between 2 % under and 3 % over. (Cutting 5 % cost up to
0.35 dB more than lowering λ to the same size, at λ = 0.03 with earlier weights.)"""
MAX_TRIM_COST = 0.5
"""The most squared error in y per bit saved that ``_trimmed`` may add with one symbol; a
file it cannot cut within that is left to another λ. On 12 training photos this left 10 of
48 cuts of 1–4 % to another λ, all at λ ≥ 0.03, where most bits are in larger symbols: cut
anyway, they had lost up to 0.42 dB against lowering λ to the same size; the 38 cut lost at
most 0.074 dB (benchmarks/shortcut_cost.py)."""
MAX_BLEND = 1.0
"""A probe between two probes at most this far apart in log λ blends their latents. On 12
training photos (gaps 0.3–0.9, probes 5–30 % of the way in) blended files cost +0.015 dB on
average (at most +0.064 dB; +0.020 and +0.07 with the previous weights) against g_a's own
files of the same size (benchmarks/shortcut_cost.py)."""
TYPICAL_AT = np.linspace(0.0, 1.0, 9)
"""Where TYPICAL's points lie on a model's λ range: log λ_min + TYPICAL_AT·(log λ_max − log λ_min)."""
TYPICAL = {
    "rate": np.array([-1.436, -1.092, -0.788, -0.535, -0.297, -0.102, 0.064, 0.201, 0.317]),
    "psnr": np.array([25.678, 27.125, 28.428, 29.449, 30.262, 30.774, 31.081, 31.251, 31.343]),
}
"""F: mean log bpp and PSNR at TYPICAL_AT of the shipped 6806ba2c77d1bbb8 (λ 0.0012 … 0.26) on
50 training photos (every 3rd of ../shared/data/train, shrunk to fit 768 px); fitted by
benchmarks/rate_prior.py, like the two constants below. Only the search's starting shape:
another model's curve is assumed to have it over that model's own λ range."""
SLOPE_PER_OFFSET = {"rate": -0.392, "psnr": 0.099}
"""A photo's curve is s·(F − mean F) + mean F + d, and its scale s goes with its offset d:
s ≈ 1 + b·d (correlation −0.66 for log bpp, 0.87 for PSNR). Used while probes cannot tell s."""
OFFSET_PER_ACTIVITY = {"rate": (-1.621, 0.657), "psnr": (16.468, -6.674)}
"""d ≈ a₀ + a₁·``activity(image)`` (correlation 0.94 for log bpp, −0.85 for PSNR; it leaves
0.09 of the 0.26 spread of d in log bpp, 1.5 of 2.9 dB): where the first probe goes."""


class TargetError(YotoError, ValueError):
    """A strict target that the model cannot reach (the message gives the closest result)."""


class TargetWarning(UserWarning):
    """A target that the model cannot reach, without ``strict``: the closest file was made."""


@dataclass(frozen=True)
class Result:
    """An encoded image and how close it came: ``value`` is in the target's unit."""

    data: bytes
    lmbda: float
    value: float
    reached: bool
    probes: int
    """λ values tried."""
    encodes: int
    """Probes that ran g_a (the others blended two probes' latents)."""


def activity(image: Image.Image) -> float:
    """log of the mean absolute difference between neighbouring pixel values (0–255): how
    busy an image is, which sets most of where its rate and PSNR curves lie."""
    a = np.asarray(image.convert(source_mode(image)), dtype=np.int16)
    a = a.reshape(a.shape[0], a.shape[1], -1)
    steps = [np.abs(np.diff(a, axis=axis)).mean() for axis in (0, 1) if a.shape[axis] > 1]
    return math.log(1.0 + (float(np.mean(steps)) if steps else 0.0))


def quality_to_lmbda(quality: float, lmbda_min: float = LMBDA_MIN, lmbda_max: float = LMBDA_MAX) -> float:
    """Map quality 1..100 log-linearly onto a model's trained λ range (1 → λ_min, 100 → λ_max;
    by default the shipped model's)."""
    quality = float(quality)  # as λ and the targets are: "50" and numpy numbers too
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    lo, hi = math.log(lmbda_min), math.log(lmbda_max)
    return float(np.float32(math.exp(lo + (quality - 1) / 99 * (hi - lo))))


_UNITS = {"": 1, "b": 1, "kb": 1000, "k": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def parse_size(text: str | int | float) -> int:
    """Bytes from ``"40KB"``, ``"1.5MiB"``, ``"12000"`` or a number (KB = 1000 bytes, KiB = 1024)."""
    number = isinstance(text, (int, float)) and not isinstance(text, bool)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", f"{text:f}" if number else str(text))  # 1e16: digits
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read size {text!r}: use e.g. 40KB, 1.5MiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class _Probe:
    """One λ tried: its value in the target's unit, and the encoding (packed on demand)."""

    analysis: codec.Analysis
    value: float
    data: bytes | None = None

    def result(self, reached: bool, probes: int, encodes: int) -> Result:
        data = self.data if self.data is not None else self.analysis.pack()
        return Result(data, self.analysis.rate.lmbda, self.value, reached, probes, encodes)


def _analysis(image: Image.Image, t: float, model: CodecModel,
              probes: dict[float, _Probe]) -> tuple[codec.Analysis, bool]:  # fmt: skip
    """The latents at λ = e^t, and whether g_a ran: blended from the probes on either side of
    t when they are at most ``MAX_BLEND`` apart, else from g_a."""
    lmbda = float(np.float32(math.exp(t)))
    below, above = max((s for s in probes if s < t), default=None), min((s for s in probes if s > t), default=None)
    if below is not None and above is not None and above - below <= MAX_BLEND:
        return codec.blend(probes[below].analysis, probes[above].analysis, lmbda), False
    return codec.analyse(image, lmbda, model), True


def _probe(kind: str, image: Image.Image, analysis: codec.Analysis) -> tuple[_Probe, float]:
    """Value ``analysis``; returns the probe and its searched score (log bpp, or PSNR).

    A PSNR probe reconstructs from y without entropy coding (the decoder's image exactly) and
    packs only if it is chosen.
    """
    if kind == "psnr":
        value = psnr_db(image, analysis.decoded())  # image: as coded (RGB, or L for a gray source)
        return _Probe(analysis, value), value
    data = analysis.pack()
    return _packed(kind, analysis, data), math.log(_bpp(analysis, data))


def _bpp(analysis: codec.Analysis, data: bytes) -> float:
    return 8.0 * len(data) / (analysis.width * analysis.height)


def _packed(kind: str, analysis: codec.Analysis, data: bytes) -> _Probe:
    """A size or bpp probe holding its file, valued in the target's unit."""
    return _Probe(analysis, float(len(data)) if kind == "size" else _bpp(analysis, data), data)


def _trimmed(kind: str, probe: _Probe, target: float) -> _Probe:
    """The probe's file cut to the middle of the target's tolerance by zeroing ±1 symbols of
    ŷ, those first whose zeroing adds the least squared error in y (2|y| − 1) per bit saved
    (−log₂ p(±1) + log₂ p(0) under their Gaussian), and coding again; no g_a is run. The
    probe itself if that needs a symbol costing more than ``MAX_TRIM_COST``.
    """
    a = probe.analysis
    y = a.y.flatten().numpy().astype(np.float64)
    symbols = np.round(y).astype(np.int64)
    sigma = a.model.scales()[a.side[1]]
    saved = np.log2(_interval(sigma, 0.5)) - np.log2((_interval(sigma, 1.5) - _interval(sigma, 0.5)) / 2)
    ones = np.flatnonzero((np.abs(symbols) == 1) & (saved > 0))
    cost = (2 * np.abs(y[ones]) - 1) / saved[ones]
    rank = np.argsort(cost, kind="stable")
    order, cost = ones[rank], cost[rank]
    goal = target * (1 - TOLERANCE[kind] / 2)
    excess_bits = (probe.value - goal) * (8 if kind == "size" else a.width * a.height)
    n = int(np.searchsorted(np.cumsum(saved[order]), excess_bits)) + 1
    if n > len(order) or cost[n - 1] > MAX_TRIM_COST:
        return probe
    symbols[order[:n]] = 0
    return _packed(kind, a, a.pack(symbols))


def _interval(sigma: np.ndarray, half_width: float) -> np.ndarray:
    """P(|Y| < half_width) for Y ~ N(0, σ²)."""
    return 2 * entropy.normal_cdf(half_width / sigma) - 1


def _allowed(kind: str, value: float, target: float) -> bool:
    return value >= target if kind == "psnr" else value <= target


def _at_limit(kind: str, probe: _Probe) -> bool:
    """Whether ``probe`` is at the end of the λ range a target on its allowed side pulls
    towards (λ_max for size and bpp, λ_min for PSNR): no file of the model comes closer."""
    cfg = probe.analysis.model.config
    fixed = cfg.lmbda_min == cfg.lmbda_max  # one λ, k = 0: both ends
    return probe.analysis.rate.k == (0 if kind == "psnr" or fixed else deterministic.LEVELS - 1)


def _within(kind: str, value: float, target: float) -> bool:
    if kind == "psnr":
        return target <= value <= target + TOLERANCE[kind]
    return target * (1 - TOLERANCE[kind]) <= value <= target


def _next_t(probes: dict[float, float], aim: float, grid: np.ndarray, typical: np.ndarray, slope_per_offset: float,
            step: float) -> float:  # fmt: skip
    """The next log λ to probe, given the scores of those probed so far.

    Scores are fitted as s·F(t) + δ, a straight line in u = F(t) (``typical`` at log λ
    ``grid``). Until the probes bracket ``aim``, the line goes through the two probes nearest
    it (δ alone, after one probe).
    Then it is the chord between the nearest probe on each side, with the Illinois rule
    (while probes keep landing on one side, on a bent stretch, the other end's score counts
    half as much each time), and the answer stays at least ``step`` (one λ grid step) inside.
    """
    ts = sorted(probes, key=lambda t: abs(probes[t] - aim))
    below, above = [t for t in ts if probes[t] < aim], [t for t in ts if probes[t] >= aim]
    if below and above:
        a, b = below[0], above[0]
        fa, fb = probes[a] - aim, probes[b] - aim
        sides = [v < aim for v in probes.values()]
        repeats = next((i for i, side in enumerate(reversed(sides)) if side != sides[-1]), len(sides)) - 1
        if sides[-1]:
            fb *= 0.5**repeats
        else:
            fa *= 0.5**repeats
        ua, ub = np.interp([a, b], grid, typical)
        t = float(np.interp(ua - fa * (ub - ua) / (fb - fa), typical, grid))
        return min(max(t, min(a, b) + step), max(a, b) - step)
    pair = ts[:2]
    F = np.interp(pair, grid, typical)
    if len(pair) == 2 and abs(F[0] - F[1]) > 1e-6:
        s = (probes[pair[0]] - probes[pair[1]]) / (F[0] - F[1])
    else:
        s = 1.0 + slope_per_offset * (probes[pair[0]] - F[0])
    s = float(np.clip(s, 0.3, 3.0))
    offset = probes[pair[0]] - s * F[0]
    return float(np.interp((aim - offset) / s, typical, grid))


def typical_log_lmbdas(lmbda_min: float, lmbda_max: float) -> np.ndarray:
    """log λ of TYPICAL's points on a model's λ range."""
    lo, hi = math.log(lmbda_min), math.log(lmbda_max)
    return lo + TYPICAL_AT * (hi - lo)


def _first_t(image: Image.Image, curve: str, aim: float, grid: np.ndarray) -> float:
    """Where the curve predicted from the image's activity meets ``aim``."""
    typical, (a0, a1) = TYPICAL[curve], OFFSET_PER_ACTIVITY[curve]
    d = a0 + a1 * activity(image)
    s = float(np.clip(1.0 + SLOPE_PER_OFFSET[curve] * d, 0.3, 3.0))
    mean = float(typical.mean())
    return float(np.interp(mean + (aim - mean - d) / s, typical, grid))


def encode_to(image: Image.Image | np.ndarray, kind: str, target: float | str,
              model: codec.Model = None, strict: bool = False, refine: int = 0,
              on_step: Callable[[int], None] | None = None) -> Result:  # fmt: skip
    """Encode ``image`` at the λ whose file meets ``target`` (``kind``: size in bytes or text
    like ``"40KB"``, bpp, psnr in dB). With ``refine`` steps, every λ tried is refined
    (``refine.py``) from g_a's latents before it is measured, so the search runs on the
    refined curve."""
    if kind not in KINDS:
        raise ValueError(f"unknown target {kind!r}; use one of {', '.join(KINDS)}")
    target = parse_size(target) if kind == "size" else float(target)
    if not (math.isfinite(target) and target > 0):
        raise ValueError(f"the {kind} target must be a positive number, got {target}")
    model = codec.load(model)
    image = codec.checked_image(image)
    image = as_coded(image) if isinstance(image, Image.Image) else Image.fromarray(image)
    curve = "psnr" if kind == "psnr" else "rate"
    tol, typical = TOLERANCE[kind], TYPICAL[curve]
    if kind == "psnr":
        aim = target + tol / 2
    else:
        bpp = target * (8.0 / (image.width * image.height) if kind == "size" else 1.0)
        aim = math.log(bpp) + (math.log(1 - tol) + math.log(1 + TRIM)) / 2
    lo, hi = math.log(model.config.lmbda_min), math.log(model.config.lmbda_max)
    grid = typical_log_lmbdas(model.config.lmbda_min, model.config.lmbda_max)
    scores: dict[float, float] = {}
    probes: dict[float, _Probe] = {}
    best: _Probe | None = None
    encodes = 0
    step = (hi - lo) / (deterministic.LEVELS - 1)

    def on_grid(t: float) -> float:  # the log λ of the nearest λ the codec can code at (a fixed-λ model: one)
        return lo if step == 0 else lo + round((min(max(t, lo), hi) - lo) / step) * step

    t = on_grid(_first_t(image, curve, aim, grid))
    while len(scores) < MAX_PROBES and t not in scores:
        # refined tries start from g_a: refinement dominates their cost, and from blended latents
        # it landed up to 0.14 dB from a g_a start one grid step away (kodim01), misleading the search
        analysis, encoded = _analysis(image, t, model, {} if refine else probes)
        encodes += encoded
        if refine:
            analysis = refined(analysis, image, refine, on_step=on_step)
        probe, scores[t] = _probe(kind, image, analysis)
        probes[t] = probe
        if kind != "psnr" and target < probe.value <= target * (1 + TRIM):
            trimmed = _trimmed(kind, probe, target)
            if trimmed is probe:  # too dear to cut at this λ: aim inside the tolerance instead
                aim = math.log(bpp) + math.log(1 - tol / 2)
            probe = trimmed
        if best is None or _rank(kind, probe.value, target) < _rank(kind, best.value, target):
            best = probe
        if _within(kind, probe.value, target):
            break
        t = on_grid(_next_t(scores, aim, grid, typical, SLOPE_PER_OFFSET[curve], step))
    met = _within(kind, best.value, target) or (_allowed(kind, best.value, target) and _at_limit(kind, best))
    result = best.result(met, len(scores), encodes)
    if strict and not result.reached:
        raise TargetError(missed(kind, target, result))
    return result


def missed(kind: str, target: float | str, result: Result) -> str:
    """What a target out of reach got instead, e.g. "size target 500 bytes is out of ..."."""
    unit = {"psnr": " dB", "size": " bytes", "bpp": " bpp"}[kind]
    target = parse_size(target) if kind == "size" else float(target)
    shown = (lambda v: f"{v:.0f}") if kind == "size" else (lambda v: f"{v:.4g}")  # bytes in full, not 4.492e+04
    return (f"{kind} target {shown(target)}{unit} is out of this model's reach for this image: "
            f"the closest is {shown(result.value)}{unit} at λ={result.lmbda:.4g}")


def _rank(kind: str, value: float, target: float) -> tuple[bool, float]:
    """Orders probes: on the allowed side of the target first, then the closest."""
    return not _allowed(kind, value, target), abs(value - target)


def encode(image: Image.Image | np.ndarray, lmbda: float | None = None, *, quality: float | None = None,
           size: int | str | None = None, bpp: float | None = None, psnr: float | None = None,
           model: codec.Model = None, strict: bool = False, refine: int = 0,
           on_step: Callable[[int], None] | None = None) -> bytes:  # fmt: skip
    """Compress an image (PIL image, uint8 RGB or gray array) at one setting, given alone:
    ``lmbda``, ``quality`` (1..100), or a target ``size`` (bytes, or text like ``"40KB"``),
    ``bpp`` or ``psnr`` (dB) met as closely as the model allows (``strict``: or raise).
    ``refine``: steps of encoder-side optimisation of the latents (``refine.py``; slower,
    smaller files at the same quality), reported to ``on_step``. A target out of reach gives
    the closest file with a ``TargetWarning``, or raises ``TargetError`` when ``strict``."""
    given = {k: v for k, v in dict(lmbda=lmbda, quality=quality, size=size, bpp=bpp, psnr=psnr).items() if v is not None}
    if len(given) != 1:
        raise ValueError(f"give exactly one of lmbda, quality, size, bpp, psnr (got {', '.join(given) or 'none'})")
    ((kind, value),) = given.items()
    if kind in ("lmbda", "quality"):
        if strict:
            raise ValueError(f"strict applies to size, bpp and psnr targets; {kind} is always met (drop strict=True)")
        model = codec.load(model)
        lmbda = value if kind == "lmbda" else quality_to_lmbda(value, model.config.lmbda_min, model.config.lmbda_max)
        analysis = codec.analyse(image, lmbda, model)
        return (refined(analysis, image, refine, on_step=on_step) if refine else analysis).pack()
    result = encode_to(image, kind, value, model, strict, refine, on_step)
    if not result.reached:
        warnings.warn(missed(kind, value, result), TargetWarning, stacklevel=2)
    return result.data
