"""Learned loss weights: a convex mix, trainable, kept from collapsing by the uniform prior."""

import pytest
import torch

from yotocodec.losses import distortions
from yotocodec.lossweights import LossWeights


def test_weights_are_positive_and_sum_to_one():
    lw = LossWeights(("a", "b", "c"))
    with torch.no_grad():
        lw.mu.copy_(torch.tensor([30.0, -30.0]))
    w = lw.weights()
    assert torch.all(w > 0) and w.sum().item() == pytest.approx(1.0)


def test_gradients_reach_the_weight_parameters():
    lw = LossWeights(("a", "b"))
    (lw({"a": torch.tensor(1.0), "b": torch.tensor(3.0)}) + lw.regularizer()).backward()
    assert lw.mu.grad is not None and lw.mu.grad.abs().item() > 0


def test_a_fixed_mix_keeps_its_weights_and_has_no_regularizer():
    lw = LossWeights(("a", "b"), learn=False, init=(3.0, 1.0))
    assert lw.as_dict() == pytest.approx({"a": 0.75, "b": 0.25})
    assert not lw.mu.requires_grad and lw.regularizer().item() == 0


def _train_toy(strength: float, steps: int = 3000) -> dict[str, float]:
    """Two terms, one always cheaper: the loss alone pushes all weight onto it."""
    lw = LossWeights(("cheap", "dear"), strength=strength)
    opt = torch.optim.SGD(lw.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        (lw({"cheap": torch.tensor(0.1), "dear": torch.tensor(0.3)}) + lw.regularizer()).backward()
        opt.step()
    return lw.as_dict()


def test_without_the_prior_the_weights_collapse_and_with_it_they_stay_bounded():
    assert _train_toy(strength=0.0)["dear"] < 0.01
    w = _train_toy(strength=0.2)
    assert 0.2 < w["dear"] < 0.4  # the optimum solves 1/w − 1/(1 − w) = 2: w ≈ 0.29


def test_ms_ssim_distortion_is_zero_for_a_perfect_reconstruction_and_grows_with_noise():
    x = torch.rand(2, 3, 128, 128)
    d0 = distortions(x, x, ("mse", "ms-ssim"))
    d1 = distortions((x + 0.1 * torch.randn_like(x)).clamp(0, 1), x, ("mse", "ms-ssim"))
    assert d0["ms-ssim"].abs().max() < 1e-3 and torch.all(d1["ms-ssim"] > 1) and torch.all(d1["mse"] > 100)
