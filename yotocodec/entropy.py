"""Entropy coding with constriction's range coder: integer symbols + models <-> bytes.

Knows nothing of images or torch. Encoder and decoder build their probability models from
the same integers (CDF tables, scale-table indexes) with IEEE-754 float64 operations that
are correctly rounded everywhere (+ − × ÷, floor, ldexp; no libm ``exp``/``erf``, whose
last bits differ between platforms), so every platform builds the same tables.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

Categorical = constriction.stream.model.Categorical
RangeEncoder = constriction.stream.queue.RangeEncoder
RangeDecoder = constriction.stream.queue.RangeDecoder
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_EXP_TAYLOR = [1.0 / math.factorial(n) for n in range(14, -1, -1)]
_ERFC_POLY = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
              -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223]  # fmt: skip


def _horner(coefficients: list[float], x: np.ndarray) -> np.ndarray:
    p = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        p = p * x + c
    return p


def _exp(x: np.ndarray) -> np.ndarray:
    """e^x from basic operations only: x = k·ln2 + r, |r| ≤ ln2/2, Taylor series in r."""
    k = np.floor(x * 1.4426950408889634 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return np.ldexp(_horner(_EXP_TAYLOR, r), k.astype(np.int64))


def _erfc(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z ≥ 0, relative error < 1.2·10⁻⁷ (Chebyshev fit of Numerical Recipes' erfcc)."""
    t = 1.0 / (1.0 + 0.5 * z)
    return t * _exp(_horner(_ERFC_POLY, t) - z * z)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x), the same to the last bit on every IEEE-754 platform."""
    z = np.abs(x) / 1.4142135623730951
    half_tail = 0.5 * _erfc(z)
    return np.where(x < 0, half_tail, 1.0 - half_tail)


def _code(pairs) -> bytes:
    """The range coder's words for (symbols, model) pairs, in order, as bytes."""
    encoder = RangeEncoder()
    for symbols, model in pairs:
        encoder.encode(symbols, model)
    return encoder.get_compressed().astype("<u4").tobytes()


def _decoder(data: bytes):
    return RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))


def _exact(data: bytes, decoded) -> None:
    """Refuse a stream that is not exactly what coding its decoded symbols gives: the coder
    is deterministic, so every stream it wrote passes, and one cut short, padded, made up or
    decoded under other models than it was coded with does not (the decoder would otherwise
    read past its end or stop early without notice)."""
    if _code(decoded) != data:
        raise ValueError("it is not exactly what its decoded symbols code to: cut, padded, altered or foreign")


def encode_categorical(symbols: np.ndarray, pmfs: list[np.ndarray]) -> bytes:
    """Code row ``c`` of ``symbols`` (C, n) with the categorical model ``pmfs[c]``."""
    return _code((np.ascontiguousarray(row, dtype=np.int32), Categorical(pmf, perfect=False))
                 for row, pmf in zip(symbols, pmfs))  # fmt: skip


def decode_categorical(data: bytes, pmfs: list[np.ndarray], n: int) -> np.ndarray:
    """Inverse of ``encode_categorical``: returns (C, n) int32 symbols; raises ``ValueError``
    if ``data`` is not exactly such a stream."""
    decoder, models = _decoder(data), [Categorical(pmf, perfect=False) for pmf in pmfs]
    rows = [decoder.decode(model, n) for model in models]
    _exact(data, zip(rows, models))
    return np.stack(rows).astype(np.int32)


def gaussian_pmfs(stds: np.ndarray, y_range: int) -> np.ndarray:
    """Row ``i``: probabilities of the integers −R…R under N(0, stds[i]²) (tails folded into
    the end bins), shape (len(stds), 2R + 1), from the platform-independent ``normal_cdf``."""
    cdf = normal_cdf((np.arange(-y_range, y_range) + 0.5)[None, :] / np.asarray(stds, dtype=np.float64)[:, None])
    ends = np.ones((len(cdf), 1))
    return np.diff(np.hstack([0 * ends, cdf, ends]), axis=1)


def _groups(indexes: np.ndarray, table: np.ndarray, y_range: int):
    """(pmf, positions) per scale index in ``indexes``, ascending: the coding order of y."""
    small = indexes.astype(np.uint16)  # a stable sort of 16-bit keys is a radix sort: O(n)
    order = np.argsort(small, kind="stable")
    counts = np.bincount(small, minlength=len(table))
    used = np.flatnonzero(counts)
    return zip(gaussian_pmfs(table[used], y_range), np.split(order, np.cumsum(counts[used])[:-1]))


def encode_gaussian(symbols: np.ndarray, indexes: np.ndarray, table: np.ndarray, y_range: int) -> bytes:
    """Code integer ``symbols`` in [-R, R], symbol ``i`` under N(0, table[indexes[i]]²) quantized.

    Symbols sharing a scale are coded together with one categorical model, group after
    group in ascending scale index: an order the decoder knows, and ~8× faster than
    building one Gaussian model per symbol.
    """
    return _code(((symbols[where] + y_range).astype(np.int32), Categorical(pmf, perfect=False))
                 for pmf, where in _groups(indexes, table, y_range))  # fmt: skip


def decode_gaussian(data: bytes, indexes: np.ndarray, table: np.ndarray, y_range: int) -> np.ndarray:
    """Inverse of ``encode_gaussian``; ``indexes`` and ``table`` must be the encoder's. Raises
    ``ValueError`` if ``data`` is not exactly such a stream."""
    decoder, out, decoded = _decoder(data), np.empty(len(indexes), dtype=np.int32), []
    for pmf, where in _groups(indexes, table, y_range):
        model = Categorical(pmf, perfect=False)
        decoded.append((decoder.decode(model, len(where)), model))
        out[where] = decoded[-1][0]
    _exact(data, decoded)
    return out - y_range
