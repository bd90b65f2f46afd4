"""The Pillow plugin: ``Image.open`` reads .yoto files, ``Image.save`` writes them."""

import numpy as np
import pytest
from PIL import Image

import yotocodec

from conftest import SAMPLE


@pytest.fixture(scope="module")
def crop() -> Image.Image:
    return Image.open(SAMPLE).convert("RGB").crop((256, 128, 384, 256))


def test_image_open_decodes_a_yoto_file(tmp_path, crop):
    path = tmp_path / "x.yoto"
    path.write_bytes(yotocodec.encode(crop, lmbda=0.02))
    with Image.open(path) as im:
        assert (im.format, im.size, im.mode) == ("YOTO", crop.size, "RGB")
        assert im.info["lmbda"] == pytest.approx(0.02, rel=1e-4)
        assert np.array_equal(np.asarray(im), np.asarray(yotocodec.decode(path.read_bytes())))


def test_image_save_encodes_with_the_given_setting(tmp_path, crop):
    crop.save(tmp_path / "q.yoto", quality=60)
    crop.convert("L").save(tmp_path / "g.yoto", size="1KB")
    assert yotocodec.inspect((tmp_path / "q.yoto").read_bytes()).lmbda == pytest.approx(
        yotocodec.ratecontrol.quality_to_lmbda(60), rel=1e-4)
    assert (tmp_path / "g.yoto").stat().st_size <= 1000
    with Image.open(tmp_path / "g.yoto") as im:
        assert im.mode == "L" and im.size == crop.size


def test_a_damaged_yoto_file_raises_the_codec_error(tmp_path, crop):
    data = yotocodec.encode(crop, lmbda=0.02)
    (tmp_path / "bad.yoto").write_bytes(data[:-7])
    with pytest.raises(yotocodec.BitstreamError, match="truncated"):
        Image.open(tmp_path / "bad.yoto")


def test_image_save_passes_strict_and_refine_on_to_the_encoder(tmp_path, crop):
    with pytest.raises(yotocodec.TargetError):
        crop.save(tmp_path / "s.yoto", size="50B", strict=True)
    with pytest.raises(ValueError, match="0 or more"):
        crop.save(tmp_path / "r.yoto", lmbda=0.01, refine=-3)


def test_loading_a_yoto_file_closes_it_as_pillow_formats_do(tmp_path, crop):
    (tmp_path / "x.yoto").write_bytes(yotocodec.encode(crop, lmbda=0.02))
    im = Image.open(tmp_path / "x.yoto")
    fp = im.fp
    im.load()
    assert fp.closed and im.size == crop.size
