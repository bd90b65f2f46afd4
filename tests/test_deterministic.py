"""The integer probability model: identical scale indexes whatever the arithmetic's order
or precision mode, where the float path desynchronises."""

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from yotocodec import codec, deterministic, entropy
from yotocodec.model import SCALE_LEVELS, SCALE_MAX, SCALE_MIN

from conftest import SAMPLE

LMBDA = 0.02


@pytest.fixture(scope="module")
def latents(shipped):
    """ẑ and the encoder's y symbols of a 256×384 crop, and the rate they were coded at."""
    image = Image.open(SAMPLE).convert("RGB").crop((0, 0, 384, 256))
    rate = codec._rate(LMBDA, shipped)
    with torch.inference_mode():
        tf = codec.inference.Transforms(shipped, rate.t)
        y = tf.g_a(codec.to_tensor(image))
        z_hat = shipped.z_hat(shipped.z_symbols(tf.h_a(torch.abs(y))))
    return z_hat, torch.round(y).to(torch.int64).flatten().numpy(), rate


def float_indexes(model, z_hat, t):
    """The float path: h_s in float32, scale snapped to the nearest table entry in log σ."""
    with torch.inference_mode():
        scales = model.h_s(z_hat, t)
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    index = torch.round((torch.log(scales.clamp(min=SCALE_MIN)) - math.log(SCALE_MIN)) / step)
    return index.clamp(0, SCALE_LEVELS - 1).to(torch.int64)


def _tf32(x):
    """Round float32 values to TF32 (10 mantissa bits), as cuDNN convolutions do by default."""
    if x is None or x.dtype != torch.float32:
        return x
    bits = x.contiguous().view(torch.int32)
    return ((bits + 0x1000) & ~0x1FFF).view(torch.float32)


@contextmanager
def tf32_device(monkeypatch):
    """A simulated other device: every float32 convolution rounds its operands to TF32."""
    conv, deconv = F.conv2d, F.conv_transpose2d
    with monkeypatch.context() as m:
        m.setattr(F, "conv2d", lambda x, w, b=None, *a, **k: conv(_tf32(x), _tf32(w), b, *a, **k))
        m.setattr(F, "conv_transpose2d", lambda x, w, b=None, *a, **k: deconv(_tf32(x), _tf32(w), b, *a, **k))
        yield


def _decode_y(symbols, indexes, shipped):
    """Code y with the encoder's indexes, decode it with ``indexes[1]`` (None: the decoder
    noticed the stream cannot be right)."""
    table, y_range = shipped.scales(), int(np.abs(symbols).max())
    data = entropy.encode_gaussian(symbols, indexes[0].flatten().numpy(), table, y_range)
    try:
        return entropy.decode_gaussian(data, indexes[1].flatten().numpy(), table, y_range)
    except (AssertionError, ValueError):
        return None


def test_float_path_desynchronises_on_a_tf32_device(shipped, latents, monkeypatch):
    z_hat, symbols, rate = latents
    here = float_indexes(shipped, z_hat, rate.t)
    with tf32_device(monkeypatch):
        there = float_indexes(shipped, z_hat, rate.t)
    assert not torch.equal(here, there)
    decoded = _decode_y(symbols, (here, there), shipped)
    assert decoded is None or not np.array_equal(decoded, symbols)


def test_integer_path_decodes_bit_exactly_on_a_tf32_device(shipped, latents, monkeypatch):
    z_hat, symbols, rate = latents
    here = deterministic.IntegerHyperSynthesis(shipped, rate.k)(z_hat)
    with tf32_device(monkeypatch):
        there = deterministic.IntegerHyperSynthesis(shipped, rate.k)(z_hat)
    assert torch.equal(here, there)
    assert np.array_equal(_decode_y(symbols, (here, there), shipped), symbols)


def _split_forward(layer, x):
    """An IntegerLayer computed with another summation order: input channels in two halves."""
    h, c = x.shape[1] // 2, layer.conv
    acc = F.conv2d(x[:, :h], c.weight[:, :h], None, c.stride, c.padding)
    acc = acc + F.conv2d(x[:, h:], c.weight[:, h:], c.bias, c.stride, c.padding)
    x = torch.floor(layer.shuffle(acc) / 2.0**deterministic.W_BITS + 0.5)
    return x.clamp_(min=0) if layer.relu else x


def test_integer_activations_do_not_depend_on_the_summation_order(shipped, latents):
    z_hat, _, rate = latents
    hs = deterministic.IntegerHyperSynthesis(shipped, rate.k)
    a = b = torch.round(z_hat.double() * 2.0**deterministic.A_BITS)
    for layer in hs.layers:
        a, b = layer(a), _split_forward(layer, b)
        assert torch.equal(a, b)


def test_integer_indexes_agree_with_the_float_model_almost_everywhere(shipped, latents):
    z_hat, _, rate = latents
    exact = deterministic.IntegerHyperSynthesis(shipped, rate.k)(z_hat)
    diff = exact - float_indexes(shipped, z_hat, rate.t)
    assert (diff == 0).double().mean() > 0.99 and diff.abs().max() <= 1  # one table step: ~5 % in σ


def test_lmbda_grid_round_trips_through_the_stored_float32():
    lo, hi = 1.2e-3, 0.26
    for k in (0, 1, 12345, deterministic.LEVELS - 1):
        assert deterministic.snap_lmbda(deterministic.grid_lmbda(k, lo, hi), lo, hi) == k


def test_activations_too_large_for_exact_float64_arithmetic_are_refused(tiny):
    hs = deterministic.IntegerHyperSynthesis(codec.load(tiny), 1000)
    z_hat = torch.zeros(1, tiny.config.N, 2, 2)
    assert hs(z_hat).shape == (1, tiny.config.M, 8, 8)
    with pytest.raises(ValueError, match="too large for exact arithmetic"):
        hs(z_hat + 2.0**45)  # 2^57 once scaled to integer activations (×2^A_BITS)
