"""Rate control: targets met from the allowed side, unreachable ones flagged or refused."""

import copy
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import yotocodec
from yotocodec import codec, ratecontrol
from yotocodec.metrics import psnr
from yotocodec.model import ModelConfig, ScaleHyperprior
from yotocodec.modelfile import save_model

from conftest import SAMPLE, tiny_model


@pytest.fixture(scope="module")
def crop() -> Image.Image:
    return Image.open(SAMPLE).convert("RGB").crop((256, 128, 448, 256))  # 192×128


# targets inside the crop's range: 384–3040 bytes, 30.9–38.4 dB from λ_min to λ_max (model d7ff828c559ebc0c)
@pytest.mark.parametrize("kind, target", [("size", 2500), ("bpp", 0.5), ("psnr", 33.0)])
def test_reachable_targets_are_met_from_the_allowed_side(shipped, crop, kind, target):
    r = ratecontrol.encode_to(crop, kind, target, shipped)
    assert r.reached and r.probes <= ratecontrol.MAX_PROBES
    if kind == "psnr":
        assert target <= psnr(crop, yotocodec.decode(r.data, shipped)) <= target + 0.1
    else:
        got = len(r.data) if kind == "size" else 8 * len(r.data) / (crop.width * crop.height)
        assert 0.98 * target <= got <= target and got == pytest.approx(r.value)


def test_a_size_target_with_refine_is_met_at_a_higher_psnr(shipped, crop):
    plain = ratecontrol.encode_to(crop, "size", 2000, shipped)
    refined = ratecontrol.encode_to(crop, "size", 2000, shipped, refine=30)
    assert refined.reached and 0.98 * 2000 <= len(refined.data) <= 2000
    assert psnr(crop, yotocodec.decode(refined.data, shipped)) > psnr(crop, yotocodec.decode(plain.data, shipped))


def test_refined_tries_start_from_g_a_never_from_blended_latents(shipped, crop, monkeypatch):
    def no_blend(*args):
        raise AssertionError("a refined try started from blended latents")

    monkeypatch.setattr(codec, "blend", no_blend)
    for target in (31.0, 32.0, 33.0, 34.0):
        r = ratecontrol.encode_to(crop, "psnr", target, shipped, refine=2)
        assert r.encodes == r.probes


@pytest.mark.parametrize("kind, target, lmbda", [("size", 10**7, "LMBDA_MAX"), ("bpp", 20.0, "LMBDA_MAX"),
                                                  ("psnr", 5.0, "LMBDA_MIN")])  # fmt: skip
def test_a_target_the_whole_range_beats_is_met_by_the_end_it_pulls_towards_even_when_strict(shipped, crop, kind,
                                                                                           target, lmbda):  # fmt: skip
    r = ratecontrol.encode_to(crop, kind, target, shipped, strict=True)
    assert r.reached and r.lmbda == pytest.approx(getattr(ratecontrol, lmbda), rel=1e-6)


def test_a_psnr_beyond_the_best_file_gives_the_best_or_fails_when_strict(shipped, crop):
    r = ratecontrol.encode_to(crop, "psnr", 60.0, shipped)
    assert not r.reached and r.lmbda == pytest.approx(ratecontrol.LMBDA_MAX, rel=1e-6)
    with pytest.raises(yotocodec.TargetError, match="out of this model's reach"):
        ratecontrol.encode_to(crop, "psnr", 60.0, shipped, strict=True)


def test_a_size_below_the_smallest_file_gives_the_smallest_flagged(shipped, crop):
    r = ratecontrol.encode_to(crop, "size", 50, shipped)
    assert not r.reached and len(r.data) > 50
    assert r.lmbda == pytest.approx(ratecontrol.LMBDA_MIN, rel=1e-6)


def test_top_level_encode_warns_when_a_target_is_out_of_reach(tiny, crop):
    with pytest.warns(yotocodec.TargetWarning, match="size target 50 bytes is out of this model's reach"):
        data = yotocodec.encode(crop, size=50, model=tiny)
    assert len(data) > 50


def test_a_missed_size_is_told_in_whole_bytes():
    result = ratecontrol.Result(b"", 0.26, 44920.0, False, 3, 2)
    assert ratecontrol.missed("size", "10MB", result).startswith(
        "size target 10000000 bytes is out of this model's reach for this image: the closest is 44920 bytes at λ=0.26")


def test_quality_maps_onto_the_models_own_lmbda_range(crop, tmp_path):
    model = ScaleHyperprior(ModelConfig(N=8, M=12, film_hidden=8, lmbda_min=0.5, lmbda_max=2.0))
    model.load_state_dict(tiny_model().state_dict())
    save_model(model, tmp_path / "m.pt")
    for quality, lmbda in ((1, 0.5), (100, 2.0)):
        data = yotocodec.encode(crop, quality=quality, model=tmp_path / "m.pt")
        assert codec.inspect(data).lmbda == pytest.approx(lmbda, rel=1e-6)


def test_targets_search_the_whole_lmbda_range_of_a_model_trained_on_another_range(shipped, crop):
    net = copy.deepcopy(shipped.network)  # the shipped weights, relabelled: λ × 10 (FiLM reads normalised log λ)
    net.config = replace(net.config, lmbda_min=10 * net.config.lmbda_min, lmbda_max=10 * net.config.lmbda_max)
    model = codec.load(net)
    wanted = len(codec.encode(crop, 2.0, model))
    r = ratecontrol.encode_to(crop, "size", wanted, model)
    assert r.reached and 0.98 * wanted <= len(r.data) <= wanted and r.lmbda > 10 * ratecontrol.LMBDA_MAX / 2


@pytest.mark.parametrize("kind, far, near", [("size", 10**6, 10), ("psnr", 5.0, 99.0)])
def test_a_fixed_lmbda_model_meets_or_flags_a_target_with_its_one_file(crop, tmp_path, kind, far, near):
    model = ScaleHyperprior(ModelConfig(N=8, M=12, film_hidden=8, lmbda_min=0.01, lmbda_max=0.01))
    model.load_state_dict(tiny_model().state_dict())
    save_model(model, tmp_path / "fixed.pt")
    met, missed = (ratecontrol.encode_to(crop, kind, t, tmp_path / "fixed.pt") for t in (far, near))
    assert met.reached and not missed.reached and met.data == missed.data and met.probes == missed.probes == 1
    assert codec.inspect(met.data).lmbda == pytest.approx(0.01, rel=1e-6)


def test_quality_maps_monotonically_onto_the_lmbda_range():
    lmbdas = [ratecontrol.quality_to_lmbda(q) for q in range(1, 101)]
    assert lmbdas[0] == pytest.approx(ratecontrol.LMBDA_MIN, rel=1e-6)
    assert lmbdas[-1] == pytest.approx(ratecontrol.LMBDA_MAX, rel=1e-6)
    assert all(a < b for a, b in zip(lmbdas, lmbdas[1:]))
    with pytest.raises(ValueError, match="1..100"):
        ratecontrol.quality_to_lmbda(0)


@pytest.mark.parametrize("text, size", [("40KB", 40000), ("1.5MiB", 1572864), ("12000", 12000), ("3 k", 3000),
                                        (40000, 40000), (1e16, 10**16)])  # numbers: as written, not "1e+16"
def test_sizes_are_read_with_their_units(text, size):
    assert ratecontrol.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "40 parsecs", "-3KB", "KB"])
def test_unreadable_sizes_are_refused_with_an_example(text):
    with pytest.raises(ValueError, match="40KB"):
        ratecontrol.parse_size(text)


def test_top_level_encode_takes_exactly_one_setting(shipped, crop):
    data = yotocodec.encode(np.asarray(crop), size="2.5KB", model=shipped)
    assert 0.98 * 2500 <= len(data) <= 2500
    assert yotocodec.encode(crop, quality=50, model=shipped) == yotocodec.encode(
        crop, lmbda=ratecontrol.quality_to_lmbda(50), model=shipped)
    for wrong in ({}, {"lmbda": 0.01, "bpp": 0.5}):
        with pytest.raises(ValueError, match="exactly one"):
            yotocodec.encode(crop, model=shipped, **wrong)


@pytest.mark.parametrize("setting", [{"lmbda": 0.01}, {"quality": 50}])
def test_strict_with_a_setting_that_is_always_met_is_refused(tiny, crop, setting):
    with pytest.raises(ValueError, match="strict applies to size, bpp and psnr"):
        yotocodec.encode(crop, model=tiny, strict=True, **setting)


def test_the_search_converges_on_a_steep_stretch_without_repeating_a_lmbda(shipped, crop, monkeypatch):
    """A PSNR curve with a cliff near λ_min (as some images show): plain interpolation creeps
    along one end of the bracket; the Illinois rule and the λ grid keep the probes few and new."""
    probed = []

    def at(image, t, model, probes):
        return SimpleNamespace(t=t, rate=SimpleNamespace(lmbda=float(np.exp(t)))), True

    def cliff(kind, image, analysis):
        t = analysis.t
        probed.append(t)
        value = 28.0 + 0.5 * np.tanh((t + 6.70) / 0.03) + 0.3 * (t + 6.7)
        return ratecontrol._Probe(analysis=analysis, value=value, data=b"x"), value

    monkeypatch.setattr(ratecontrol, "_analysis", at)
    monkeypatch.setattr(ratecontrol, "_probe", cliff)
    r = ratecontrol.encode_to(crop, "psnr", 28.0, shipped)
    assert 28.0 <= r.value <= 28.1 and r.probes == len(probed) <= 8
    assert len(set(probed)) == len(probed)


def test_busier_images_start_the_search_where_busier_images_need_to_be(rng):
    flat = Image.new("RGB", (96, 64), (120, 130, 140))
    busy = Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    assert ratecontrol.activity(flat) == 0.0 < ratecontrol.activity(busy)
    aim_rate, aim_psnr = np.log(0.5), 30.0
    # the same bpp needs a smaller λ, the same PSNR a larger one, on a busier image
    grid = ratecontrol.typical_log_lmbdas(ratecontrol.LMBDA_MIN, ratecontrol.LMBDA_MAX)
    assert ratecontrol._first_t(busy, "rate", aim_rate, grid) < ratecontrol._first_t(flat, "rate", aim_rate, grid)
    assert ratecontrol._first_t(busy, "psnr", aim_psnr, grid) > ratecontrol._first_t(flat, "psnr", aim_psnr, grid)


@pytest.mark.parametrize("over", [1.005, 1.015, 1.03])
def test_a_file_a_little_over_the_target_is_trimmed_into_tolerance_without_encoding_again(shipped, crop, over):
    probe, _ = ratecontrol._probe("size", crop, codec.analyse(crop, 0.02, shipped))
    target = probe.value / over
    trimmed = ratecontrol._trimmed("size", probe, target)
    assert 0.98 * target <= len(trimmed.data) == trimmed.value <= target
    decoded = yotocodec.decode(trimmed.data, shipped)
    assert decoded.size == crop.size and psnr(crop, decoded) > psnr(crop, yotocodec.decode(probe.data, shipped)) - 1.0


def test_a_file_too_dear_to_trim_is_left_for_another_lmbda_and_the_target_still_met(shipped, rng):
    noise = Image.fromarray(rng.integers(0, 256, (128, 192, 3), dtype=np.uint8))  # bits in large symbols
    probe, _ = ratecontrol._probe("size", noise, codec.analyse(noise, 0.1, shipped))
    assert ratecontrol._trimmed("size", probe, probe.value / 1.005) is probe
    result = ratecontrol.encode_to(noise, "size", probe.value / 1.005, shipped)
    assert result.reached and 0.98 * probe.value / 1.005 <= len(result.data) <= probe.value / 1.005


def test_a_probe_inside_a_close_bracket_blends_its_neighbours_instead_of_running_g_a(shipped, crop):
    probes = {t: ratecontrol._probe("size", crop, codec.analyse(crop, np.exp(t), shipped))[0] for t in (-5.0, -4.5)}
    inside, encoded = ratecontrol._analysis(crop, -4.8, shipped, probes)
    assert not encoded and inside.rate.lmbda == pytest.approx(np.exp(-4.8), rel=1e-4)
    sizes = [probes[-5.0].value, len(inside.pack()), probes[-4.5].value]
    assert sizes == sorted(sizes)
    assert ratecontrol._analysis(crop, -4.4, shipped, probes)[1]  # outside the bracket: g_a
    far = {-5.0: probes[-5.0], -5.0 + 1.5 * ratecontrol.MAX_BLEND: probes[-4.5]}
    assert ratecontrol._analysis(crop, -4.8, shipped, far)[1]  # a bracket too wide: g_a


def test_sizes_and_bpp_are_within_tolerance_up_to_2_percent_below_and_psnr_up_to_a_tenth_of_a_db_above():
    for kind in ("size", "bpp"):
        assert ratecontrol._within(kind, 0.985 * 2000, 2000) and ratecontrol._within(kind, 2000, 2000)
        assert not ratecontrol._within(kind, 0.97 * 2000, 2000) and not ratecontrol._within(kind, 2001, 2000)
    assert ratecontrol._within("psnr", 33.09, 33.0) and ratecontrol._within("psnr", 33.0, 33.0)
    assert not ratecontrol._within("psnr", 33.11, 33.0) and not ratecontrol._within("psnr", 32.99, 33.0)


@pytest.mark.parametrize("array", [np.zeros((8, 8, 3)), np.zeros((8, 8, 1), np.uint8), np.zeros((3, 8, 8), np.uint8),
                                   np.zeros((0, 8, 3), np.uint8), np.zeros((8, 8), bool)])  # fmt: skip
def test_targets_check_arrays_as_a_lmbda_does(tiny, array):
    with pytest.raises(ValueError, match="expected a uint8 array|empty image"):
        yotocodec.encode(array, size="2KB", model=tiny)


def test_quality_may_be_given_as_text_or_a_numpy_number_as_lmbda_may():
    assert ratecontrol.quality_to_lmbda("50") == ratecontrol.quality_to_lmbda(np.float32(50)) == ratecontrol.quality_to_lmbda(50)
