"""Range coding of y: grouped quantized-Gaussian models, exact round trips, near-ideal size."""

import hashlib
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


def test_the_format_pins_the_bytes_both_streams_code_fixed_symbols_to():
    """The .yoto format is these bytes: a change of constriction's quantisation, of
    ``normal_cdf`` or of the coding order breaks every file written before, and this test."""
    n = 2000
    symbols, indexes = np.arange(n) * 7919 % 23 - 11, np.arange(n) * 31 % 6
    table = np.array([0.11, 0.5, 1.0, 2.5, 8.0, 40.0])
    y = entropy.encode_gaussian(symbols, indexes, table, 12)
    cdf = np.array([0, 1, 1000, 30000, 60000, 65535, 65536], dtype=np.float64)
    pmfs = [np.diff(cdf) / 65536, np.diff(65536 - cdf[::-1]) / 65536]
    z_symbols = np.stack([np.arange(300) * 13 % 6, np.arange(300) * 5 % 6])
    z = entropy.encode_categorical(z_symbols, pmfs)
    assert hashlib.sha256(y).hexdigest() == "3696c607b0e59051a781aca572f11fdb1aacdf19c8404031b175f6926c4688f4"
    assert hashlib.sha256(z).hexdigest() == "b75844a600546b0b33aa908cbf92cbca746ade464d417733d2811038ff00c460"
    assert np.array_equal(entropy.decode_gaussian(y, indexes, table, 12), symbols)
    assert np.array_equal(entropy.decode_categorical(z, pmfs, 300), z_symbols)
