"""The container: round trip, and one clear error for every kind of bad input."""

import pytest

from yotocodec.bitstream import HEADER_SIZE, MAX_PIXELS, MAX_SIDE, BitstreamError, pack, parse

MODEL_ID = bytes(range(8))


def sample() -> bytes:
    return pack(MODEL_ID, 0.0125, 480, 640, 37, b"\x01\x02\x03\x04" * 3, b"\xaa\xbb\xcc\xdd" * 5)


def test_pack_parse_round_trip_keeps_every_field():
    bs = parse(sample())
    h = bs.header
    assert (h.model_id, h.height, h.width, h.y_range) == (MODEL_ID, 480, 640, 37)
    assert h.lmbda == pytest.approx(0.0125)
    assert bs.z_stream == b"\x01\x02\x03\x04" * 3 and bs.y_stream == b"\xaa\xbb\xcc\xdd" * 5
    assert len(sample()) == HEADER_SIZE + 12 + 20


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a .yoto"),
        (b"YOT", "truncated"),
        (b"YOTA", "not a .yoto"),
        (sample()[:20], "truncated"),
        (sample()[:-1], "truncated"),
        (sample() + b"\0", "padded"),
    ],
)
def test_malformed_input_raises_bitstream_error_with_reason(data, reason):
    with pytest.raises(BitstreamError, match=reason):
        parse(data)


def test_any_bytes_like_input_parses_and_a_path_is_refused_with_what_to_do(tmp_path):
    assert parse(memoryview(sample())).header == parse(bytearray(sample())).header == parse(sample()).header
    for path in (str(tmp_path / "a.yoto"), tmp_path / "a.yoto"):
        with pytest.raises(TypeError, match="read_bytes"):
            parse(path)


def test_a_file_object_or_a_number_is_refused_naming_what_it_got(tmp_path):
    (tmp_path / "a.yoto").write_bytes(sample())
    with open(tmp_path / "a.yoto", "rb") as f, pytest.raises(TypeError, match=r"got BufferedReader; read it first"):
        parse(f)
    with pytest.raises(TypeError, match="got int$"):
        parse(5)  # bytes(5) would be five zero bytes


def test_every_single_bit_flip_is_detected():
    data = sample()
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(BitstreamError):
            parse(bytes(flipped))


@pytest.mark.parametrize("version", [2, 4])
def test_other_format_versions_are_refused_by_name(version):
    data = bytearray(sample())
    data[4] = version
    with pytest.raises(BitstreamError, match=f"version {version}"):
        parse(bytes(data))


def test_pack_refuses_sizes_the_format_cannot_hold():
    with pytest.raises(ValueError):
        pack(MODEL_ID, 0.01, 0, 10, 1, b"", b"")
    with pytest.raises(ValueError):
        pack(MODEL_ID, 0.01, 10, 10, 1 << 16, b"", b"")


@pytest.mark.parametrize("change, match", [({"model_id": b"abc"}, "8-byte model id"), ({"flags": 2}, "known flags"),
                                           ({"z_stream": b"abc"}, "whole 32-bit words"),
                                           ({"lmbda": float("nan")}, "finite and positive"), ({"lmbda": 0.0}, "positive")])
def test_pack_refuses_what_parse_would_refuse_instead_of_writing_it(change, match):
    fields = dict(model_id=MODEL_ID, lmbda=0.01, height=8, width=8, y_range=1, z_stream=b"", y_stream=b"", flags=0)
    with pytest.raises(ValueError, match=match):
        pack(**(fields | change))


def test_pack_refuses_an_area_over_max_pixels_though_each_side_fits():
    assert 16384 <= MAX_SIDE and 16384 * 8192 > MAX_PIXELS
    with pytest.raises(ValueError, match="over"):
        pack(MODEL_ID, 0.01, 8192, 16384, 1, b"", b"")
