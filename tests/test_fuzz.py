"""Hostile .yoto files: truncated, bit-flipped, spliced, random, and absurd headers with a
valid checksum. Every one must end in ``BitstreamError`` (or, for a well-formed file whose
payload was replaced by streams that are exactly what their decoded symbols code to, an
image of the size its header states) — never another exception, within the time
hypothesis allows per example.

CI runs 150 examples per strategy; ``YOTO_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest
tests/test_fuzz.py`` runs the full fuzz (6 strategies × 2000 = 12,000 inputs).
"""

import os
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from yotocodec import codec
from yotocodec.bitstream import _HEADER, MAX_PIXELS, MAX_SIDE, BitstreamError, pack, parse

from conftest import random_image, tiny_model

EXAMPLES = int(os.environ.get("YOTO_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model():
    m = tiny_model()
    m.update()
    return m.eval()


@pytest.fixture(scope="module")
def files(model) -> list[bytes]:
    rng = np.random.default_rng(7)
    return [codec.encode(random_image(rng, h, w), lm, model) for h, w, lm in ((40, 56, 0.01), (64, 64, 0.2))]


def check(data: bytes, model) -> None:
    """The decoder's contract on arbitrary bytes."""
    try:
        image = codec.decode(data, model)
    except BitstreamError:
        return
    h = codec.inspect(data)
    assert isinstance(image, Image.Image) and image.size == (h.width, h.height)


def reheader(data: bytes, **fields) -> bytes:
    """``data`` with header fields replaced and the checksum made valid again."""
    names = ("magic", "version", "flags", "model_id", "lmbda", "height", "width", "y_range", "z_len", "y_len")
    values = dict(zip(names, _HEADER.unpack_from(data))) | fields
    head = _HEADER.pack(*(values[n] for n in names))
    payload = data[_HEADER.size + 4 :]
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


@FUZZ
@given(which=st.integers(0, 1), cut=st.floats(0, 1, exclude_max=True))
def test_truncated_files(model, files, which, cut):
    check(files[which][: int(cut * len(files[which]))], model)


@FUZZ
@given(which=st.integers(0, 1), bits=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_bit_flipped_files(model, files, which, bits):
    data = bytearray(files[which])
    for b in bits:
        data[(b // 8) % len(data)] ^= 1 << (b % 8)
    check(bytes(data), model)


@FUZZ
@given(i=st.integers(0, 10**4), j=st.integers(0, 10**4))
def test_spliced_files(model, files, i, j):
    a, b = files
    check(a[: i % len(a)] + b[j % len(b) :], model)


@FUZZ
@given(tail=st.binary(max_size=300))
def test_random_bytes_after_the_magic(model, tail):
    check(b"YOTO" + tail, model)


@FUZZ
@given(which=st.integers(0, 1), version=st.integers(0, 255), flags=st.integers(0, 255),
       lmbda=st.floats(width=32, allow_nan=True, allow_infinity=True),
       height=st.integers(0, 2**32 - 1), width=st.integers(0, 2**32 - 1), y_range=st.integers(0, 2**16 - 1),
       z_len=st.integers(0, 2**32 - 1), y_len=st.integers(0, 2**32 - 1),
       keep=st.lists(st.sampled_from(["version", "flags", "lmbda", "height", "width", "y_range", "z_len", "y_len"]),
                     unique=True))  # fmt: skip
def test_absurd_headers_with_a_valid_checksum(model, files, which, keep, **fields):
    data = files[which]
    original = dict(zip(("version", "flags", "lmbda", "height", "width", "y_range", "z_len", "y_len"),
                        _HEADER.unpack_from(data)[1:3] + _HEADER.unpack_from(data)[4:]))  # fmt: skip
    changed = {k: (original[k] if k in keep else v) for k, v in fields.items()}
    if 256 * 256 < changed["height"] * changed["width"] <= MAX_PIXELS and max(changed["height"], changed["width"]) <= MAX_SIDE:
        changed["height"] %= 257  # a large legal size is real work, not hostility: keep the run fast
        changed["width"] %= 257
    check(reheader(data, **changed), model)


@FUZZ
@given(which=st.integers(0, 1), bits=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_corrupted_payloads_with_a_valid_checksum(model, files, which, bits):
    data = bytearray(files[which])
    payload = len(data) - _HEADER.size - 4
    for b in bits:
        data[_HEADER.size + 4 + (b // 8) % payload] ^= 1 << (b % 8)
    check(reheader(bytes(data)), model)


def restream(data: bytes, z: bytes | None = None, y: bytes | None = None, **header) -> bytes:
    """``data`` with its streams (and header fields) replaced, as a well-formed file."""
    bs = parse(data)
    h = replace(bs.header, **header)
    return pack(h.model_id, h.lmbda, h.height, h.width, h.y_range, bs.z_stream if z is None else z,
                bs.y_stream if y is None else y, h.flags)  # fmt: skip


@pytest.mark.parametrize("spoil, stream", [
    (lambda d, bs: restream(d, z=b"", y=b""), "z"),  # 40 bytes claiming a whole image
    (lambda d, bs: restream(d, y=bs.y_stream[:-4]), "y"),  # cut by a word, lengths fixed
    (lambda d, bs: restream(d, y=bs.y_stream + b"\x12\x34\x56\x78"), "y"),  # padded
    (lambda d, bs: restream(d, z=bs.y_stream, y=bs.z_stream), "z"),  # swapped
    (lambda d, bs: restream(d, height=65, width=65), "z"),  # another latent grid's size
])  # fmt: skip
def test_streams_that_are_not_exactly_what_their_symbols_code_to_are_refused(model, files, spoil, stream):
    data = files[1]
    with pytest.raises(BitstreamError, match=f"the {stream} stream does not decode"):
        codec.decode(spoil(data, parse(data)), model)


def test_a_lmbda_off_the_grid_is_refused(model, files):
    lmbda = parse(files[0]).header.lmbda
    off = float(np.nextafter(np.float32(lmbda), np.float32(1)))
    with pytest.raises(BitstreamError, match="not on the format's λ grid"):
        codec.decode(reheader(files[0], lmbda=off), model)


@pytest.mark.parametrize("fields, reason", [({"lmbda": float("nan")}, "invalid λ"), ({"lmbda": float("inf")}, "invalid λ"),
                                            ({"lmbda": 0.0}, "invalid λ"), ({"lmbda": -0.01}, "invalid λ"),
                                            ({"y_range": 0}, "latent range 0")])  # fmt: skip
def test_headers_no_encoder_writes_are_refused_by_inspect_too(files, fields, reason):
    with pytest.raises(BitstreamError, match=reason):
        codec.inspect(reheader(files[0], **fields))


@pytest.mark.parametrize("fields, reason", [({"flags": 2}, "unknown flags 0x2"),
                                            ({"height": 8192, "width": 16384}, "implausible image size 16384x8192")])  # fmt: skip
def test_checksum_valid_headers_no_encoder_writes_are_refused_by_parse(files, fields, reason):
    with pytest.raises(BitstreamError, match=reason):
        parse(reheader(files[0], **fields))
