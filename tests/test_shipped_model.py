"""The shipped model on a Kodak image: exact decode, honest rate, RD monotone in λ."""

import numpy as np
import pytest

from yotocodec import codec
from yotocodec.bitstream import HEADER_SIZE
from yotocodec.files import read_image
from yotocodec.metrics import psnr

from conftest import SAMPLE

LMBDAS = [1.2e-3, 4e-3, 1.6e-2, 6e-2, 2.6e-1]


@pytest.fixture(scope="module")
def points(shipped):
    image = read_image(SAMPLE)
    rows = []
    for lmbda in LMBDAS:
        data = codec.encode(image, lmbda, shipped)
        decoded = codec.decode(data, shipped)
        expected, bits = codec.reference(image, lmbda, shipped)
        rows.append((len(data), bits, np.asarray(decoded), np.asarray(expected), psnr(image, decoded)))
    return rows


def test_decoded_image_equals_the_models_reconstruction(points):
    for _, _, decoded, expected, _ in points:
        assert np.abs(decoded.astype(np.int16) - expected.astype(np.int16)).max() <= 1


def test_file_size_is_within_one_percent_of_the_estimated_rate(points):
    for size, bits, *_ in points:
        assert abs(size - HEADER_SIZE - bits / 8) <= 0.01 * bits / 8 + HEADER_SIZE


def test_rate_and_quality_increase_with_lmbda(points):
    sizes = [p[0] for p in points]
    psnrs = [p[4] for p in points]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert psnrs == sorted(psnrs)
