"""Entropy coding with constriction's range coder: integer symbols + models <-> bytes.

Knows nothing of images or torch. Encoder and decoder build their probability models from
the same integers (CDF tables, scale-table indexes) by the same float64 arithmetic, so on
one platform they agree bit for bit.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

Categorical = constriction.stream.model.Categorical
RangeEncoder = constriction.stream.queue.RangeEncoder
RangeDecoder = constriction.stream.queue.RangeDecoder
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _to_bytes(encoder) -> bytes:
    return encoder.get_compressed().astype("<u4").tobytes()


def _decoder(data: bytes):
    return RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))


def encode_categorical(symbols: np.ndarray, pmfs: list[np.ndarray]) -> bytes:
    """Code row ``c`` of ``symbols`` (C, n) with the categorical model ``pmfs[c]``."""
    encoder = RangeEncoder()
    for row, pmf in zip(symbols, pmfs):
        encoder.encode(np.ascontiguousarray(row, dtype=np.int32), Categorical(pmf, perfect=False))
    return _to_bytes(encoder)


def decode_categorical(data: bytes, pmfs: list[np.ndarray], n: int) -> np.ndarray:
    """Inverse of ``encode_categorical``: returns (C, n) int32 symbols."""
    decoder = _decoder(data)
    rows = [decoder.decode(Categorical(pmf, perfect=False), n) for pmf in pmfs]
    return np.stack(rows).astype(np.int32)


def gaussian_pmfs(stds: np.ndarray, y_range: int) -> np.ndarray:
    """Row ``i``: probabilities of the integers −R…R under N(0, stds[i]²) (tails folded into
    the end bins), shape (len(stds), 2R + 1). Plain float64 arithmetic and ``math.erf``."""
    edges = (np.arange(-y_range, y_range) + 0.5)[None, :] / (np.asarray(stds)[:, None] * math.sqrt(2))
    cdf = 0.5 * (1.0 + _erf(edges))
    ends = np.ones((len(cdf), 1))
    return np.diff(np.hstack([0 * ends, cdf, ends]), axis=1)


def _groups(indexes: np.ndarray, table: np.ndarray, y_range: int):
    """(pmf, positions) per scale index in ``indexes``, ascending: the coding order of y."""
    order = np.argsort(indexes, kind="stable")
    used, starts = np.unique(indexes[order], return_index=True)
    return zip(gaussian_pmfs(table[used], y_range), np.split(order, starts[1:]))


def encode_gaussian(symbols: np.ndarray, indexes: np.ndarray, table: np.ndarray, y_range: int) -> bytes:
    """Code integer ``symbols`` in [-R, R], symbol ``i`` under N(0, table[indexes[i]]²) quantized.

    Symbols sharing a scale are coded together with one categorical model, group after
    group in ascending scale index: an order the decoder knows, and ~10× faster than
    building one Gaussian model per symbol.
    """
    encoder = RangeEncoder()
    for pmf, where in _groups(indexes, table, y_range):
        encoder.encode((symbols[where] + y_range).astype(np.int32), Categorical(pmf, perfect=False))
    return _to_bytes(encoder)


def decode_gaussian(data: bytes, indexes: np.ndarray, table: np.ndarray, y_range: int) -> np.ndarray:
    """Inverse of ``encode_gaussian``; ``indexes`` and ``table`` must be the encoder's."""
    decoder, out = _decoder(data), np.empty(len(indexes), dtype=np.int32)
    for pmf, where in _groups(indexes, table, y_range):
        out[where] = decoder.decode(Categorical(pmf, perfect=False), len(where))
    return out - y_range
