"""Shared fixtures: a tiny random model (fast), the shipped model, sample images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yotocodec import codec
from yotocodec.conditioning import FiLM
from yotocodec.model import ModelConfig, ScaleHyperprior
from yotocodec.modelfile import load_model, save_model

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "kodim23.png"
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def tiny_model(seed: int = 0) -> ScaleHyperprior:
    """An untrained N=8, M=12 model whose FiLM layers are randomised so that λ matters."""
    torch.manual_seed(seed)
    model = ScaleHyperprior(ModelConfig(N=8, M=12, film_hidden=8))
    for m in model.modules():
        if isinstance(m, FiLM):
            torch.nn.init.normal_(m.mlp[2].weight, std=0.3)
    return model


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(tiny_model(), path)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_model_path) -> ScaleHyperprior:
    return load_model(tiny_model_path)


@pytest.fixture(scope="session")
def shipped() -> ScaleHyperprior:
    return codec.load()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random RGB image (noise blurred by upsampling), uint8 (H, W, 3)."""
    coarse = rng.uniform(0, 255, size=(height // 8 + 2, width // 8 + 2, 3))
    a = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]
    return np.clip(a + rng.normal(0, 4, a.shape), 0, 255).astype(np.uint8)
