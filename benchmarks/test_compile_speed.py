"""``yoto train --compile`` against the eager training step, side by side in one run.

One step as the trainer takes it (``train.Objective``: forward under bf16 autocast where the
CPU has native bf16, λ·255²·MSE + bpp and the auxiliary loss, backward, Adam) on a batch of
8 random 128² crops with one λ per sample, at the shipped size N=128/M=192. The compiled
step compiles in its first warm-up round, which is not timed. Run with

    .venv/bin/python -m pytest benchmarks/test_compile_speed.py \\
        --benchmark-json=benchmarks/results/compile_speed.json
"""

import pytest
import torch

from yotocodec.conditioning import sample_lmbda
from yotocodec.model import ModelConfig, ScaleHyperprior, bf16_native
from yotocodec.train import Objective, compiled

BATCH, CROP = 8, 128


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_training_step(benchmark, mode):
    torch.manual_seed(0)
    model = ScaleHyperprior(ModelConfig(128, 192)).train()
    objective = Objective(model, bf16_native(torch.device("cpu")))
    objective = compiled(objective) if mode == "compiled" else objective
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, lmbda = torch.rand(BATCH, 3, CROP, CROP), sample_lmbda(BATCH, model.config.lmbda_min, model.config.lmbda_max)

    def step():
        terms = objective(x, lmbda)
        assert torch.isfinite(terms["loss"])
        opt.zero_grad(set_to_none=True)
        (terms["loss"] + terms["aux"]).backward()
        opt.step()

    benchmark.extra_info["pixels_per_step"] = BATCH * CROP * CROP
    benchmark.pedantic(step, rounds=25, warmup_rounds=3, iterations=1)
