"""Speed of a refinement step (``yoto encode --refine``) on a 768×512 Kodak image, and of
the g_s pass it spends most of its time in, in its two forms side by side in one run.

A refinement step runs g_s forward and backward (the gradient with respect to y) on the
whole image. ``yotocodec.refine`` uses the decoder's form of g_s (``inference.fold``: FiLM
folded into the convolutions at the image's λ, channels-last); the peer is the training
form (``model.g_s(y, t)``: each convolution followed by its FiLM), which refinement used
before. Run with

    .venv/bin/python -m pytest benchmarks/test_refine_speed.py --benchmark-group-by=group \\
        --benchmark-json=benchmarks/results/refine_speed.json
    .venv/bin/python benchmarks/test_refine_speed.py   # JSON -> benchmarks/results/refine_speed.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from yotocodec import codec, inference, refine
from yotocodec.modelfile import model_id

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "data" / "samples" / "kodim23.png"
RESULTS = ROOT / "benchmarks" / "results"
LMBDA = 0.01
ROUNDS = dict(rounds=10, warmup_rounds=1, iterations=1)
DECODER, TRAINING = FORMS = ("decoder (folded)", "training (conv + FiLM)")


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return Image.open(IMAGE).convert("RGB")


@pytest.fixture(scope="module")
def analysis(image) -> codec.Analysis:
    return codec.analyse(image, LMBDA, codec.load())


def _g_s_backward(g_s, y: torch.Tensor) -> None:
    torch.autograd.grad(g_s(y).square().mean(), [y])


@pytest.mark.benchmark(group="g_s forward + backward")
@pytest.mark.parametrize("form", FORMS)
def test_g_s_backward(benchmark, analysis, form):
    model, t = analysis.model, analysis.rate.t.clone()
    with torch.no_grad():
        g_s = inference.fold(model.g_s, t) if form == DECODER else (lambda y: model.g_s(y, t))
    y = analysis.y.clone().requires_grad_(True)
    benchmark.extra_info["model"] = model_id(model).hex()
    benchmark.pedantic(_g_s_backward, args=(g_s, y), **ROUNDS)


@pytest.mark.benchmark(group="refinement step")
@pytest.mark.parametrize("form", FORMS)
def test_refine_step(benchmark, analysis, image, monkeypatch, form):
    """``refine`` steps (10-step runs, reported per step; the coded-loss checks included), with
    g_s in the given form (the training form: ``inference.fold`` replaced by the conditioned g_s)."""
    if form == TRAINING:
        monkeypatch.setattr(inference, "fold", lambda seq, t: lambda y: seq(y, t))
    steps = 10
    benchmark.extra_info["steps_per_round"] = steps
    benchmark.pedantic(refine.refine, args=(analysis, image, steps), rounds=3, warmup_rounds=1, iterations=1)


def report(path: Path = RESULTS / "refine_speed.json") -> str:
    """The JSON of a run as the Markdown table in ``refine_speed.md``."""
    runs = json.loads(path.read_text())
    bench = {b["name"]: b for b in runs["benchmarks"]}
    cpu = runs["machine_info"]["cpu"].get("brand_raw", "?")
    lines = [f"768×512 image ({IMAGE.stem}), λ = {LMBDA}, shipped model "
             f"{bench[f'test_g_s_backward[{DECODER}]']['extra_info']['model']}; CPU: {cpu}, torch threads = "
             "default; median (min) seconds.", "",
             "| | g_s in decoder form (folded) | g_s in training form (conv + FiLM) | speed-up |", "|---|---|---|---|"]  # fmt: skip
    for test, what in [("test_g_s_backward", "g_s forward + backward to y"), ("test_refine_step", "one refinement step")]:
        ours, peer = (bench[f"{test}[{form}]"] for form in FORMS)
        per = ours["extra_info"].get("steps_per_round", 1)
        o, p = ({k: b["stats"][k] / per for k in ("median", "min")} for b in (ours, peer))
        runs_of = f"{ours['stats']['rounds']} runs of {per} steps" if per > 1 else f"{ours['stats']['rounds']} rounds"
        lines.append(f"| {what} ({runs_of}) | {o['median']:.3f} ({o['min']:.3f}) | {p['median']:.3f} ({p['min']:.3f}) "
                     f"| {p['median'] / o['median']:.2f}× ({p['min'] / o['min']:.2f}×) |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = RESULTS / "refine_speed.md"
    out.write_text(report())
    sys.stdout.write(out.read_text())
