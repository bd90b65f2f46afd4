"""``yoto train --compile`` against the eager training step, side by side in one run.

One step as the trainer takes it (``train.Objective``: forward under bf16 autocast where the
CPU has native bf16, λ·255²·MSE + bpp and the auxiliary loss, backward, Adam) on a batch of
8 random 128² crops with one λ per sample, at CompressAI's reference size N=128/M=192 (the
step of ``test_train_speed.py``). The compiled step compiles in its first warm-up round, which
is not timed. Run with

    .venv/bin/python -m pytest benchmarks/test_compile_speed.py \\
        --benchmark-json=benchmarks/results/compile_speed.json
"""

import pytest
import torch
from test_train_speed import BATCH, CROP, _step_fn

from yotocodec.conditioning import sample_lmbda
from yotocodec.model import ModelConfig, ScaleHyperprior, bf16_native
from yotocodec.train import Objective, compiled


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_training_step(benchmark, mode):
    model = ScaleHyperprior(ModelConfig(128, 192)).train()
    objective = Objective(model, bf16_native(torch.device("cpu")))
    objective = compiled(objective) if mode == "compiled" else objective
    lmbda = sample_lmbda(BATCH, model.config.lmbda_min, model.config.lmbda_max)

    def loss(_model, x):
        terms = objective(x, lmbda)
        assert torch.isfinite(terms["loss"])
        return terms["loss"] + terms["aux"]

    benchmark.extra_info["pixels_per_step"] = BATCH * CROP * CROP
    benchmark.pedantic(_step_fn(model, loss), rounds=25, warmup_rounds=3, iterations=1)
