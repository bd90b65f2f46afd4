"""benchmarks/dequantization.py: the bin offsets it fits, and that a zero offset changes nothing."""

import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
dequantization = pytest.importorskip("dequantization")


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]


def test_offsets_stay_inside_the_bin_and_zero_latents_get_none(tiny_model_path, crops):
    from yotocodec import codec

    model = codec.load(tiny_model_path)
    delta = dequantization.fit(crops, model, min_count=1)
    assert delta.shape == (len(model.scales()), dequantization.MAGNITUDES)
    assert np.all(delta[:, 0] == 0) and np.all(np.abs(delta) <= 0.5)
    assert np.any(delta[:, 1:] != 0)  # some nonzero ŷ was seen and given its bin's mean


def test_a_zero_offset_decodes_as_the_codec_does_and_a_fitted_one_moves_the_image(tiny_model_path, crops):
    from yotocodec import codec
    from yotocodec.metrics import psnr

    model = codec.load(tiny_model_path)
    zero = np.zeros((len(model.scales()), dequantization.MAGNITUDES))
    result = dequantization.evaluate(crops, model, zero)
    for lmbda, (coded, shifted, _) in result.items():
        assert shifted == coded
        assert coded == pytest.approx(np.mean([psnr(x, codec.analyse(x, lmbda, model).decoded()) for x in crops]))
    fitted = dequantization.evaluate(crops, model, dequantization.fit(crops, model, min_count=1))
    assert any(row[1] != row[0] for row in fitted.values())
