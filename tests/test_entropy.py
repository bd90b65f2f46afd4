"""Range coding of y: grouped quantized-Gaussian models, exact round trips, near-ideal size."""

import math

import numpy as np

from yotocodec import entropy
from yotocodec.model import scale_table

TABLE = np.asarray(scale_table(), dtype=np.float64)


def _latents(rng, n=5000, y_range=40):
    indexes = rng.integers(0, len(TABLE), n)
    symbols = np.clip(np.round(rng.normal(0, TABLE[indexes])), -y_range, y_range).astype(np.int32)
    return symbols, indexes, y_range


def test_gaussian_pmfs_are_normalised_and_symmetric():
    p = entropy.gaussian_pmfs(TABLE[[0, 50, 159]], 20)
    assert p.shape == (3, 41) and np.all(p >= 0)
    assert np.allclose(p.sum(1), 1) and np.allclose(p, p[:, ::-1])


def test_y_round_trip_is_exact_even_for_improbable_symbols():
    symbols, indexes, y_range = _latents(np.random.default_rng(0))
    symbols[:3], indexes[:3] = [y_range, -y_range, 7], 0  # far outside σ = 0.11
    data = entropy.encode_gaussian(symbols, indexes, TABLE, y_range)
    assert np.array_equal(entropy.decode_gaussian(data, indexes, TABLE, y_range), symbols)


def test_y_stream_is_within_one_percent_of_the_information_content():
    symbols, indexes, y_range = _latents(np.random.default_rng(1), n=50_000)
    pmfs = entropy.gaussian_pmfs(TABLE, y_range)
    ideal_bits = -np.log2(pmfs[indexes, symbols + y_range]).sum()
    coded_bits = 8 * len(entropy.encode_gaussian(symbols, indexes, TABLE, y_range))
    assert ideal_bits <= coded_bits <= 1.01 * ideal_bits + 64


def test_normal_cdf_is_accurate_in_the_body_and_the_tails():
    x = np.linspace(-10, 10, 2001)
    reference = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    got = entropy.normal_cdf(x)
    assert np.abs(got - reference).max() < 1e-7
    assert np.all(np.abs(got - reference)[x < 0] <= 2e-7 * reference[x < 0])
