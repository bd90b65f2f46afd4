"""The ``.yoto`` container: pure bytes, no torch. Every parse failure raises ``BitstreamError``.

Layout, format version 3 (all integers little-endian)::

    offset size  field
    0      4     magic  b"YOTO"
    4      1     format version (3)
    5      1     flags: bit 0 = grayscale source (decode to one channel); others 0
    6      8     model id: first 8 bytes of SHA-256 over the model's config and weights
                 (``modelfile.model_id``); a decoder with another model refuses the file
    14     4     λ, IEEE-754 float32: grid value k of 2¹⁶ over the model's [λ_min, λ_max],
                 float32(exp(log λ_min + k/65535·(log λ_max − log λ_min)))
    18     4     image height in pixels (uint32, 1..65536)
    22     4     image width in pixels (uint32, 1..65536; height × width at most 2²⁶;
                 readers older than 2026-12-05 stop at 2²⁵ and refuse larger files)
    26     2     R: every y symbol lies in [-R, R] (uint16, 1..4096)
    28     4     length of the z stream in bytes (uint32, a multiple of 4)
    32     4     length of the y stream in bytes (uint32, a multiple of 4)
    36     4     CRC-32 (zlib's: ISO-HDLC, as in PNG) of bytes [0, 36) followed by the payload
    40     ...   payload: z stream, then y stream (constriction range-coder words, uint32 LE);
                 the file ends there (its length is exactly 40 + the two stream lengths)

The latents of an H × W image (padded to multiples of 64) are ẑ, N × ⌈H/64⌉ × ⌈W/64⌉, and
ŷ, M × 4⌈H/64⌉ × 4⌈W/64⌉. The z stream codes ẑ channel by channel (raster order within a
channel), each channel with the categorical model whose probabilities are the differences
of the model's integer CDF table (16-bit, CompressAI's) without its last, overflow bin:
symbol = ẑ − median − offset, clamped to that alphabet (no escape codes, unlike
CompressAI). The y stream codes ŷ + R with Gaussians N(0, σ²) quantized to the integers in
[-R, R], tails folded into the end bins, Φ computed by ``entropy.normal_cdf`` (a fixed erfc
approximation in correctly rounded float64 steps, not libm's), whose σ come from a fixed
scale table indexed by h_s(ẑ; λ); the elements are coded grouped by scale index
(ascending; raster order of (C, H, W) within a group), one categorical model per group. The
scale indexes are computed in exact integer arithmetic (``deterministic.py``) from ẑ and the
grid index k of λ (k = round(65535·(log λ − log λ_min)/(log λ_max − log λ_min)), which
``grid_lmbda`` maps back to the stored λ exactly), so every platform derives the same ones.
Both streams are one constriction 0.5 ``queue.RangeEncoder`` each (32-bit words, 64-bit
state), every probability vector given as ``Categorical(p, perfect=False)``, which quantizes
it to 24-bit fixed point; the format pins that quantization, so a reader in another
language must reproduce constriction's. Nothing but the header and these two streams is
stored; ``tests/test_entropy.py`` pins the bytes both streams code fixed symbols to.

``parse`` checks, in this order: magic, length, version, payload length, CRC, flags, sizes,
R, stream lengths and λ (finite, positive). The decoder then checks the model id, that λ
is in the model's range and on its grid, and that each stream is exactly what coding its
decoded symbols gives (the coder is deterministic), so a stream cut short, padded or made
up is refused rather than decoded into an image.

History: version 1 coded y in raster order with one Gaussian model per element; version 2
grouped y by scale index; version 3 snaps λ to the grid and computes the indexes with the
integer hyper-synthesis instead of float32.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"YOTO"
VERSION = 3
_HEADER = struct.Struct("<4sBB8sfIIHII")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size + _CRC.size
FLAG_GRAY = 0x01
"""The source image was grayscale: it was coded as RGB and is decoded back to one channel."""
MAX_SIDE = 1 << 16
"""Largest accepted image side in pixels (guards the decoder's allocations)."""
MAX_PIXELS = 1 << 26
"""Largest accepted image area (67.1 megapixels: every 35 mm camera's full resolution), for the
same reason."""
MAX_Y_RANGE = 1 << 12
"""Largest accepted R (|ŷ| ≤ R; natural images stay in the low hundreds): bounds table sizes."""


class YotoError(Exception):
    """Base class of the errors yotocodec raises on purpose."""


class BitstreamError(YotoError, ValueError):
    """The bytes are not a valid ``.yoto`` file for this decoder (the message says why)."""


@dataclass(frozen=True)
class Header:
    version: int
    model_id: bytes
    lmbda: float
    height: int
    width: int
    y_range: int
    z_len: int
    y_len: int
    flags: int = 0


@dataclass(frozen=True)
class Bitstream:
    header: Header
    z_stream: bytes
    y_stream: bytes


def _plausible(height: int, width: int) -> bool:
    return 0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and height * width <= MAX_PIXELS


def check_size(height: int, width: int) -> None:
    """Refuse an image the format cannot hold, before any work is spent on it."""
    if min(height, width) == 0:
        raise ValueError(f"empty image ({width}x{height})")
    if not _plausible(height, width):
        raise ValueError(f"a {width}x{height} image is over the .yoto format's limits ({MAX_SIDE} px a side, "
                         f"{MAX_PIXELS / 1e6:.1f} MP); cut it into parts and code each")  # fmt: skip


def pack(model_id: bytes, lmbda: float, height: int, width: int, y_range: int,
         z_stream: bytes, y_stream: bytes, flags: int = 0) -> bytes:  # fmt: skip
    """Serialize one image's streams into a ``.yoto`` file; refuses what ``parse`` would."""
    check_size(height, width)
    if not 1 <= y_range <= MAX_Y_RANGE:
        raise ValueError(f"latent range {y_range} is outside the format's 1..{MAX_Y_RANGE}")
    if len(model_id) != 8 or flags & ~FLAG_GRAY or len(z_stream) % 4 or len(y_stream) % 4:
        raise ValueError("pack needs an 8-byte model id, known flags and streams of whole 32-bit words, got "
                         f"{len(model_id)} bytes, flags {flags:#x}, {len(z_stream)} and {len(y_stream)} bytes")  # fmt: skip
    if not (math.isfinite(lmbda) and lmbda > 0):
        raise ValueError(f"λ must be finite and positive, got {lmbda}")
    head = _HEADER.pack(MAGIC, VERSION, flags, model_id, lmbda, height, width, y_range,
                        len(z_stream), len(y_stream))  # fmt: skip
    payload = z_stream + y_stream
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + _CRC.pack(crc) + payload


def parse(data: bytes | bytearray | memoryview) -> Bitstream:
    """Check and split a ``.yoto`` file; raises ``BitstreamError`` with the reason."""
    if isinstance(data, (str, os.PathLike)):
        raise TypeError(f"expected a .yoto file's bytes, got the path {str(data)!r}: "
                        "read the file first (pathlib.Path(path).read_bytes())")  # fmt: skip
    try:
        data = memoryview(data).tobytes()
    except TypeError:
        hint = " read it first (f.read())" if hasattr(data, "read") else ""
        raise TypeError(f"expected a .yoto file's bytes, got {type(data).__name__}{';' if hint else ''}{hint}") from None
    if len(data) == 0:
        raise BitstreamError("empty input: not a .yoto file")
    if MAGIC.startswith(data):
        raise BitstreamError(f"truncated .yoto file: {len(data)} bytes, only the start of the magic b'YOTO'")
    if not data.startswith(MAGIC):
        raise BitstreamError("not a .yoto file (wrong magic bytes)")
    if len(data) < HEADER_SIZE:
        raise BitstreamError(f"truncated .yoto file: {len(data)} bytes, header alone needs {HEADER_SIZE}")
    fields = _HEADER.unpack_from(data)
    _, version, flags, model_id, lmbda, height, width, y_range, z_len, y_len = fields
    if version != VERSION:
        raise BitstreamError(f"unsupported .yoto format version {version} (this decoder reads {VERSION})")
    (crc,) = _CRC.unpack_from(data, _HEADER.size)
    payload = data[HEADER_SIZE:]
    if len(payload) != z_len + y_len:
        raise BitstreamError(f"truncated or padded .yoto file: payload is {len(payload)} bytes, "
                             f"header says {z_len + y_len}")  # fmt: skip
    if zlib.crc32(payload, zlib.crc32(data[: _HEADER.size])) != crc:
        raise BitstreamError("corrupted .yoto file: checksum mismatch")
    if flags & ~FLAG_GRAY:
        raise BitstreamError(f"unknown flags {flags:#x} in .yoto header")
    if not _plausible(height, width):
        raise BitstreamError(f"implausible image size {width}x{height} in .yoto header")
    if not 1 <= y_range <= MAX_Y_RANGE:
        raise BitstreamError(f"implausible latent range {y_range} in .yoto header")
    if z_len % 4 or y_len % 4:
        raise BitstreamError("corrupted .yoto file: stream lengths are not whole 32-bit words")
    if not (math.isfinite(lmbda) and lmbda > 0):
        raise BitstreamError(f"invalid λ {lmbda} in .yoto header")
    header = Header(version, model_id, lmbda, height, width, y_range, z_len, y_len, flags)
    return Bitstream(header, payload[:z_len], payload[z_len:])


@dataclass(frozen=True)
class StreamInfo:
    version: int
    lmbda: float
    width: int
    height: int
    num_bytes: int
    model_id: str
    mode: str
    """PIL mode ``decode`` returns: "RGB", or "L" for a grayscale source."""

    @property
    def bpp(self) -> float:
        return 8.0 * self.num_bytes / (self.width * self.height)


def inspect(data: bytes | bytearray | memoryview) -> StreamInfo:
    """Header facts of a ``.yoto`` file (checked, not decoded)."""
    h = parse(data).header
    return StreamInfo(h.version, h.lmbda, h.width, h.height, memoryview(data).nbytes, h.model_id.hex(), _mode(h.flags))


def _mode(flags: int) -> str:
    return "L" if flags & FLAG_GRAY else "RGB"
