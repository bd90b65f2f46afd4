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


@pytest.fixture
def widened(tiny):
    """``tiny`` with 8 more hidden channels (N), all silent."""
    wide = ScaleHyperprior(dataclasses.replace(tiny.config, N=tiny.config.N + 8)).eval()
    widen(tiny, wide)
    return wide


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
