"""benchmarks/synthesis_ceiling.py: which ŷ channels it keeps, and that keeping all changes nothing."""

import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
synthesis_ceiling = pytest.importorskip("synthesis_ceiling")


def test_the_mask_keeps_the_k_strongest_latent_channels_at_lmbda_max(tiny):
    crops = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(s)) for s in range(2)]
    keep = synthesis_ceiling.strongest(tiny, crops, 3)
    t = tiny.condition(torch.tensor([tiny.config.lmbda_max]))
    with torch.no_grad():
        power = sum(tiny.g_a(x, t).pow(2).mean((0, 2, 3)) for x in crops)
    assert keep.shape == (1, tiny.config.M, 1, 1) and keep.sum() == 3
    assert set(keep.flatten().nonzero().flatten().tolist()) == set(power.topk(3).indices.tolist())


def test_keeping_every_channel_measures_what_no_mask_does_and_fewer_channels_reach_less(tiny):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    every = torch.ones(1, tiny.config.M, 1, 1)
    assert synthesis_ceiling.ceiling(tiny, x, 5, every) == pytest.approx(synthesis_ceiling.ceiling(tiny, x, 5))
    one = synthesis_ceiling.strongest(tiny, [x], 1)
    assert synthesis_ceiling.ceiling(tiny, x, 5, one)[2] < synthesis_ceiling.ceiling(tiny, x, 5)[2]
