"""Training throughput: yotocodec's FiLM-conditioned hyperprior vs CompressAI's plain
ScaleHyperprior of the same size, side by side in one pytest-benchmark run.

One step = forward, λ·255²·MSE + bpp loss, backward, Adam update, on a batch of 8 random
128² crops; our model draws one λ per sample, CompressAI's uses one fixed λ. Run with

    .venv/bin/python -m pytest benchmarks/test_train_speed.py --benchmark-group-by=param:size \\
        --benchmark-json=benchmarks/results/train_speed.json

and ``benchmarks/train_speed_report.py`` turns the JSON into the overhead table.
"""

import pytest
import torch
from compressai.models import ScaleHyperprior as PlainHyperprior

from yotocodec.conditioning import sample_lmbda
from yotocodec.losses import rd_loss
from yotocodec.model import ModelConfig, ScaleHyperprior

SIZES = {"N64-M128": (64, 128), "N128-M192": (128, 192), "N192-M192": (192, 192)}  # the last: the paper's
BATCH, CROP = 8, 128


def _step_fn(model, call):
    """A closure doing one full optimizer step of ``model`` through ``call(model, x)``."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(BATCH, 3, CROP, CROP)

    def step():
        loss = call(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _yoto(model, x):
    lmbda = sample_lmbda(len(x), model.config.lmbda_min, model.config.lmbda_max)
    return rd_loss(model(x, lmbda), x, lmbda)["loss"]


def _plain(model, x):
    return rd_loss(model(x), x, torch.full((len(x),), 0.01))["loss"]


@pytest.mark.parametrize("codec", ["compressai-plain", "yotocodec-FiLM"])
@pytest.mark.parametrize("size", SIZES)  # outermost: each pair runs back to back
def test_train_step(benchmark, size, codec):
    N, M = SIZES[size]
    if codec == "yotocodec-FiLM":
        step = _step_fn(ScaleHyperprior(ModelConfig(N, M)), _yoto)
    else:
        step = _step_fn(PlainHyperprior(N, M), _plain)
    benchmark.extra_info["pixels_per_step"] = BATCH * CROP * CROP
    benchmark.pedantic(step, rounds=25, warmup_rounds=3, iterations=1)
