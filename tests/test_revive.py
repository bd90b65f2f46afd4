"""benchmarks/revive.py: silent channels come back to life without changing the model's output."""

import dataclasses
import sys

import pytest
import torch

from conftest import ROOT
from yotocodec.model import ScaleHyperprior, widen

sys.path.insert(0, str(ROOT / "benchmarks"))
revive = pytest.importorskip("revive")
channel_use = pytest.importorskip("channel_use")


def _wider(tiny, **added):
    """``tiny`` widened by ``added`` channels (e.g. N=8), which start silent."""
    widths = {k: getattr(tiny.config, k) + n for k, n in added.items()}
    wide = ScaleHyperprior(dataclasses.replace(tiny.config, **widths))
    widen(tiny, wide)
    return wide.eval()


@pytest.fixture
def widened(tiny):
    """``tiny`` with 8 more hidden channels (N), all silent."""
    return _wider(tiny, N=8)


@pytest.fixture
def widened_y(tiny):
    """``tiny`` with 8 more ŷ channels (M), all silent."""
    return _wider(tiny, M=8)


def test_silent_channels_are_the_ones_widening_added(tiny, widened):
    crops = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))]
    dead = revive.silent_channels(widened, crops)
    n = tiny.config.N
    assert dead["g_s.3"].tolist() == list(range(n, n + 8))  # what g_s's first IGDN writes
    assert dead["g_a.3"].tolist() == list(range(n, n + 8))


def test_revived_channels_carry_signal_and_the_output_is_unchanged(tiny, widened):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    lmbda = torch.tensor([0.01])
    with torch.no_grad():
        before = widened(x, lmbda)
    counts = revive.revive(widened, revive.silent_channels(widened, [x]))
    n = tiny.config.N
    assert counts["g_s.3"] == 8 and counts["g_a.3"] == 8
    rms = channel_use.channel_rms(widened, [x], 0.01)
    assert torch.all(rms["g_s.3"][n:] > 0.01 * rms["g_s.3"].max())
    with torch.no_grad():
        after = widened(x, lmbda)
    torch.testing.assert_close(after["x_hat"], before["x_hat"], atol=1e-6, rtol=0)
    for k in before["likelihoods"]:
        torch.testing.assert_close(after["likelihoods"][k], before["likelihoods"][k], atol=1e-6, rtol=1e-5)


def test_revived_latents_carry_a_ramp_of_signal_and_change_neither_image_nor_other_rates(tiny, widened_y):
    wide = widened_y
    m = tiny.config.M
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    dead = torch.arange(m, m + 8)  # the channels widening added: silent
    assert set(dead.tolist()) <= set(revive.silent_channels(wide, [x])["g_s.0"].tolist())
    lo, hi = (torch.tensor([v]) for v in (wide.config.lmbda_min, wide.config.lmbda_max))
    torch.manual_seed(0)
    with torch.no_grad():
        scales = wide.h_s[-3]  # what makes the silent channels' σ: random, as a trained model's may be
        scales.weight[dead], scales.bias[dead] = torch.randn_like(scales.weight[dead]), torch.randn(len(dead))
        z = lambda t: wide.h_a(wide.g_a(x, wide.condition(t)).abs(), wide.condition(t))  # noqa: E731
        before = [wide(x, lmbda) | {"z": z(lmbda)} for lmbda in (lo, hi)]
    revive.revive_latents(wide, dead, [x], scale=0.5)
    with torch.no_grad():
        after = [wide(x, lmbda) | {"z": z(lmbda)} for lmbda in (lo, hi)]
        y_hi, y_lo = (wide.g_a(x, wide.condition(lmbda))[0, m:] for lmbda in (hi, lo))
        sigma_hi = wide.h_s(torch.round(wide.h_a(wide.g_a(x, wide.condition(hi)).abs(), wide.condition(hi))), wide.condition(hi))
    assert y_hi.pow(2).mean().sqrt() == pytest.approx(0.5, rel=1e-3) and y_lo.abs().max() < 1e-3
    assert sigma_hi[0, m:].flatten().tolist() == pytest.approx([0.5] * sigma_hi[0, m:].numel(), abs=1e-3)
    for b, a in zip(before, after):
        torch.testing.assert_close(a["x_hat"], b["x_hat"], atol=1e-6, rtol=0)
        torch.testing.assert_close(a["z"], b["z"], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(a["likelihoods"]["y"][:, :m], b["likelihoods"]["y"][:, :m], atol=1e-6, rtol=1e-5)
    assert after[1]["likelihoods"]["y"][:, m:].log().sum() < before[1]["likelihoods"]["y"][:, m:].log().sum() - 1


def test_revived_latents_may_be_read_by_g_s_with_small_random_weights(tiny, widened_y):
    wide = widened_y
    m, x = tiny.config.M, torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    live_std = wide.g_s[0].weight[:m].detach().std()
    torch.manual_seed(0)
    revive.revive_latents(wide, torch.arange(m, m + 8), [x], scale=0.5, read=0.3)
    assert float(wide.g_s[0].weight[m:].detach().std() / live_std) == pytest.approx(0.3, rel=0.1)
    assert torch.equal(wide.h_a[0].weight[:, m:], torch.zeros_like(wide.h_a[0].weight[:, m:]))


def test_revived_latents_ramp_as_the_power_asks_with_small_film_weights(tiny):
    torch.manual_seed(0)  # the FiLM width of a real model: a cubic needs more than tiny's 8 ReLU kinks
    wide = ScaleHyperprior(dataclasses.replace(tiny.config, M=tiny.config.M + 8, film_hidden=128)).eval()
    m, x = tiny.config.M, torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    revive.revive_latents(wide, torch.arange(m, m + 8), [x], scale=2.0, power=3)
    t = torch.tensor([[-1.0], [0.0], [1.0]])
    with torch.no_grad():
        gate, _ = wide.g_a[-1].coefficients(t)
        _, sigma = wide.h_s[-2].coefficients(t)
    ramp = torch.tensor([0.0, 0.125, 1.0]).reshape(3, 1)
    torch.testing.assert_close(gate[:, m:, 0, 0], ramp.expand(3, 8), atol=0.01, rtol=0)
    torch.testing.assert_close(sigma[:, m:, 0, 0], 2 * ramp.expand(3, 8), atol=0.02, rtol=0)
    for film in (wide.g_a[-1], wide.h_s[-2]):
        assert film.mlp[2].weight.abs().max() < 1  # a plain least-squares fit had weights near 2e4
