"""Entropy coding with constriction's range coder: integer symbols + models <-> bytes.

Knows nothing of images or torch. Encoder and decoder build their probability models from
the same integers (CDF tables, scale-table entries), so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import constriction

Categorical = constriction.stream.model.Categorical
QuantizedGaussian = constriction.stream.model.QuantizedGaussian
RangeEncoder = constriction.stream.queue.RangeEncoder
RangeDecoder = constriction.stream.queue.RangeDecoder


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


def encode_gaussian(symbols: np.ndarray, stds: np.ndarray, y_range: int) -> bytes:
    """Code integer ``symbols`` in [-R, R], each under its own zero-mean quantized Gaussian."""
    family = QuantizedGaussian(-y_range, y_range)
    encoder = RangeEncoder()
    encoder.encode(symbols.astype(np.int32), family, np.zeros_like(stds), stds)
    return _to_bytes(encoder)


def decode_gaussian(data: bytes, stds: np.ndarray, y_range: int) -> np.ndarray:
    """Inverse of ``encode_gaussian``; ``stds`` must be the encoder's, bit for bit."""
    family = QuantizedGaussian(-y_range, y_range)
    return _decoder(data).decode(family, np.zeros_like(stds), stds).astype(np.int32)
