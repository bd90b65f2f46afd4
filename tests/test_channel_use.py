"""benchmarks/channel_use.py: channels nothing writes to count as silent, the others do not."""

import dataclasses
import sys

import pytest
import torch

from conftest import ROOT
from yotocodec.model import ScaleHyperprior, widen

sys.path.insert(0, str(ROOT / "benchmarks"))
channel_use = pytest.importorskip("channel_use")


def test_channels_added_by_widening_are_silent_and_the_original_ones_are_not(tiny):
    wide = ScaleHyperprior(dataclasses.replace(tiny.config, N=tiny.config.N + 8)).eval()
    widen(tiny, wide)
    crops = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))]
    rms = channel_use.channel_rms(wide, crops, 0.01)["g_s.3"]  # what g_s's first IGDN writes
    n = tiny.config.N
    assert torch.all(rms[n:] == 0) and torch.all(rms[:n] > 0.01 * rms.max())
    row = next(r for r in channel_use.table(wide, crops, split=n) if "| g_s.3 |" in r)
    assert row.split("|")[3:6] == [f" {n + 8} ", " 8 ", " 8 "]
