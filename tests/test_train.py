"""Training: λ sampling, FiLM initialisation, the loss, checkpoint/resume, export."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from yotocodec import codec
from yotocodec.conditioning import FiLM, normalize_log_lmbda, sample_lmbda
from yotocodec.modelfile import load_model
from yotocodec.train import TrainConfig, Trainer, export_checkpoint, lr_at

from conftest import random_image


def test_lmbda_is_log_uniform_over_the_range():
    g = torch.Generator().manual_seed(0)
    lm = sample_lmbda(20000, 1e-3, 1e-1, g)
    assert lm.min() >= 1e-3 and lm.max() <= 1e-1
    t = (torch.log(lm) - math.log(1e-3)) / (math.log(1e-1) - math.log(1e-3))
    hist = torch.histc(t, bins=10, min=0, max=1) / len(t)
    assert torch.all((hist - 0.1).abs() < 0.01)


def test_normalized_log_lmbda_maps_the_range_to_minus_one_one():
    t = normalize_log_lmbda(torch.tensor([1e-3, 1e-2, 1e-1]), 1e-3, 1e-1)
    assert torch.allclose(t.flatten(), torch.tensor([-1.0, 0.0, 1.0]), atol=1e-6)


def test_film_starts_as_the_identity():
    f = FiLM(5)
    x = torch.randn(2, 5, 3, 3)
    assert torch.equal(f(x, torch.tensor([[0.3], [-0.9]])), x)


def test_lr_warms_up_then_decays():
    cfg = TrainConfig(lr=1e-3, warmup=10, steps=100, final_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] == pytest.approx(1e-4, rel=0.01)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(random_image(rng, 80, 96)).save(d / f"{i}.png")
    return d


def small_config(folder, out, steps):
    return TrainConfig(data=str(folder), out=str(out), N=8, M=12, steps=steps, batch_size=2,
                       crop=64, warmup=2, ckpt_every=2, lr=1e-3)  # fmt: skip


def test_training_reduces_the_loss_and_writes_a_usable_model(folder, tmp_path):
    trainer = Trainer(small_config(folder, tmp_path, 30), progress=False)
    first = trainer.train_step()["loss"]
    path = trainer.run()
    trainer.gen.manual_seed(0)
    later = np.mean([trainer.train_step()["loss"] for _ in range(3)])
    assert later < first
    model = load_model(path)
    image = random_image(np.random.default_rng(1), 64, 64)
    assert codec.decode(codec.encode(image, 0.01, model), model).size == (64, 64)


def test_resumed_run_matches_an_uninterrupted_one(folder, tmp_path):
    straight = Trainer(small_config(folder, tmp_path / "a", 6), progress=False)
    straight.run()
    assert Trainer(small_config(folder, tmp_path / "b", 6), progress=False).run(until=4) is None
    resumed = Trainer(small_config(folder, tmp_path / "b", 6), progress=False)
    assert resumed.step == 4
    resumed.run()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_export_of_a_checkpoint_gives_the_same_model(folder, tmp_path):
    path = Trainer(small_config(folder, tmp_path, 2), progress=False).run()
    export_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "exported.pt")
    assert (tmp_path / "exported.pt").exists()
    a, b = load_model(path), load_model(tmp_path / "exported.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_resuming_with_another_architecture_is_refused(folder, tmp_path):
    Trainer(small_config(folder, tmp_path, 2), progress=False).run()
    cfg = small_config(folder, tmp_path, 4)
    cfg.N = 16
    with pytest.raises(ValueError, match="checkpoint"):
        Trainer(cfg, progress=False)
