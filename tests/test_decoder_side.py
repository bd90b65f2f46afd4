"""benchmarks/decoder_side.py: the offsets and tables it fits, and that neutral ones change nothing."""

import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
decoder_side = pytest.importorskip("decoder_side")


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]


@pytest.fixture(scope="module")
def model(tiny_model_path):
    from yotocodec import codec

    return codec.load(tiny_model_path)


def test_offsets_stay_inside_the_bin_zero_latents_get_none_and_tables_are_distributions(model, crops):
    delta, tables = decoder_side.fit(crops, model, min_count=1)
    assert delta.shape == (len(model.scales()), decoder_side.MAGNITUDES)
    assert np.all(delta[:, 0] == 0) and np.all(np.abs(delta) <= 0.5)
    assert np.any(delta[:, 1:] != 0)  # some nonzero ŷ was seen and given its bin's mean
    assert tables.shape == decoder_side.gaussian_tables(model).shape
    assert np.allclose(tables.sum(1), 1) and np.all(tables >= 0)


def test_neutral_offsets_and_tables_measure_the_codec_itself_and_fitted_ones_move(model, crops):
    from yotocodec import codec
    from yotocodec.metrics import psnr

    gaussian = decoder_side.gaussian_tables(model)
    zero = np.zeros((len(gaussian), decoder_side.MAGNITUDES))
    for lmbda, (coded, shifted, _, bits_gaussian, bits_tables) in decoder_side.evaluate(crops, model, zero, gaussian).items():
        assert shifted == coded and bits_tables == bits_gaussian
        assert coded == pytest.approx(np.mean([psnr(x, codec.analyse(x, lmbda, model).decoded()) for x in crops]))
    fitted = decoder_side.evaluate(crops, model, *decoder_side.fit(crops, model, min_count=1))
    assert any(row[1] != row[0] for row in fitted.values())
    assert sum(row[4] for row in fitted.values()) < sum(row[3] for row in fitted.values())  # fitted on these crops
