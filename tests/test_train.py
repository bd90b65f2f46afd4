"""Training: λ sampling, FiLM, checkpoint/resume, SIGTERM, fixed-λ mode, validation, DDP, export."""

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from yotocodec import codec
from yotocodec.cli import main
from yotocodec.conditioning import FiLM, normalize_log_lmbda, sample_lmbda
from yotocodec.data import StepBatches
from yotocodec.losses import rd_loss
from yotocodec.model import ModelConfig, ScaleHyperprior, bf16_native, widen
from yotocodec.modelfile import load_model, model_id, save_model
from yotocodec.train import PARTS, PROBE, TrainConfig, Trainer, export_checkpoint, lr_at

from conftest import random_image


def test_lmbda_is_log_uniform_over_the_range():
    g = torch.Generator().manual_seed(0)
    lm = sample_lmbda(20000, 1e-3, 1e-1, g)
    assert lm.min() >= 1e-3 and lm.max() <= 1e-1
    t = (torch.log(lm) - math.log(1e-3)) / (math.log(1e-1) - math.log(1e-3))
    hist = torch.histc(t, bins=10, min=0, max=1) / len(t)
    assert torch.all((hist - 0.1).abs() < 0.01)


def test_the_rd_loss_is_the_batch_mean_of_each_samples_lmbda_weighted_mse_plus_bpp():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    noise = torch.randn_like(x) * torch.tensor([0.02, 0.1]).view(2, 1, 1, 1)  # unlike distortions per sample
    x_hat = x + noise
    likelihoods = {"y": torch.full((2, 4, 2, 2), 0.5), "z": torch.full((2, 1, 1, 1), 0.25)}
    lmbda = torch.tensor([0.001, 0.1])
    bpp = (16 * 1 + 1 * 2) / 64  # per sample: 16 y elements at 1 bit, one z element at 2 bits, 8×8 px
    mse = noise.pow(2).flatten(1).mean(1)
    terms = rd_loss({"x_hat": x_hat, "likelihoods": likelihoods}, x, lmbda)
    assert float(terms["loss"]) == pytest.approx(float((lmbda * 255**2 * mse + bpp).mean()), rel=1e-5)
    assert float(terms["bpp"]) == pytest.approx(bpp, rel=1e-6)


def test_step_batches_depend_on_seed_rank_and_step_and_flip_crops(rng):
    images = [torch.from_numpy(random_image(rng, 80, 96)).permute(2, 0, 1) for _ in range(2)]

    def batch(seed, rank, step):
        return StepBatches(images, 64, 2, (1e-3, 1e-1), seed, rank)[step]

    crops, lmbda = batch(0, 0, 5)
    again = batch(0, 0, 5)
    assert torch.equal(crops, again[0]) and torch.equal(lmbda, again[1])
    for other in (batch(1, 0, 5), batch(0, 1, 5), batch(0, 0, 6)):
        assert not torch.equal(crops, other[0]) and not torch.equal(lmbda, other[1])
    image = images[0][:, :64, :64]  # asymmetric; the crop is the whole image: only flips vary
    seen = torch.cat([StepBatches([image], 64, 1, (1e-3, 1e-1), 0)[s][0] for s in range(50)])
    for flipped in (image.flip(2), image.flip(1), image):  # horizontal, vertical, none
        assert any(torch.equal(c, flipped) for c in seen)


def test_normalized_log_lmbda_maps_the_range_to_minus_one_one():
    t = normalize_log_lmbda(torch.tensor([1e-3, 1e-2, 1e-1]), 1e-3, 1e-1)
    assert torch.allclose(t.flatten(), torch.tensor([-1.0, 0.0, 1.0]), atol=1e-6)


def test_film_starts_as_the_identity():
    f = FiLM(5)
    x = torch.randn(2, 5, 3, 3)
    assert torch.equal(f(x, torch.tensor([[0.3], [-0.9]])), x)


@pytest.mark.parametrize("batch_of_conditions", [2, 1])
def test_film_gradients_are_correct_for_features_and_lmbda(batch_of_conditions):
    torch.manual_seed(0)
    film = FiLM(4, hidden=8).double()
    torch.nn.init.normal_(film.mlp[2].weight)
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    t = torch.randn(batch_of_conditions, 1, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: film(x, t), (x,))
    assert torch.autograd.gradcheck(lambda t: film(x.detach(), t), (t.requires_grad_(),))


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


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's learned state, without the entropy coder's tables (rebuilt on load)."""
    return {k: v for k, v in module.state_dict().items() if "_cdf" not in k and "_offset" not in k}


def small_config(folder, out, steps, **changes):
    base = dict(N=8, M=12, batch_size=2, crop=64, warmup=2, ckpt_every=2, lr=1e-3, workers=0, val_images=0)
    return TrainConfig(data=str(folder), out=str(out), steps=steps, **(base | changes))


def test_training_reduces_the_loss_and_writes_a_usable_model(folder, tmp_path):
    trainer = Trainer(small_config(folder, tmp_path, 30), progress=False)
    first = trainer.train_step()["loss"]
    path = trainer.run()
    trainer.step = 0
    later = trainer.train_step()["loss"]
    assert later < first
    model = load_model(path)
    image = random_image(np.random.default_rng(1), 64, 64)
    assert codec.decode(codec.encode(image, 0.01, model), model).size == (64, 64)


def test_resumed_run_matches_an_uninterrupted_one_step_for_step(folder, tmp_path):
    straight = Trainer(small_config(folder, tmp_path / "a", 6), progress=False)
    losses = [straight.train_step()["loss"] for _ in range(6)]
    interrupted = Trainer(small_config(folder, tmp_path / "b", 6, workers=2), progress=False)
    assert interrupted.run(until=3) is None
    resumed = Trainer(small_config(folder, tmp_path / "b", 6), progress=False)
    assert resumed.step == 3
    assert [resumed.train_step()["loss"] for _ in range(3)] == losses[3:]
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_a_resumption_that_changes_the_schedule_says_so_and_the_checkpoint_records_it(folder, tmp_path, capsys):
    assert Trainer(small_config(folder, tmp_path, 6), progress=False).run(until=3) is None
    resumed = Trainer(small_config(folder, tmp_path, 6, lr=5e-4, threads=1), progress=False)
    assert "resuming at step 3 with changed settings: --lr 0.001 -> 0.0005" in capsys.readouterr().err
    resumed.run()
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["changes"] == [{"step": 3, "changed": {"lr": [1e-3, 5e-4]}}]  # threads: not a change of the run


def test_resuming_with_other_loss_weights_is_refused(folder, tmp_path):
    mix = dict(distortion="mse+ms-ssim")
    assert Trainer(small_config(folder, tmp_path, 4, **mix), progress=False).run(until=2) is None
    for change in ({"weights": "0.9,0.1"}, {"learn_weights": True}):
        with pytest.raises(ValueError, match="start a new --out"):
            Trainer(small_config(folder, tmp_path, 4, **mix, **change), progress=False)


def test_resuming_with_another_lmbda_range_is_refused(folder, tmp_path):
    assert Trainer(small_config(folder, tmp_path, 4), progress=False).run(until=2) is None
    for change in ({"lmbda_min": 2e-3}, {"lmbda_max": 0.1}):
        with pytest.raises(ValueError, match="start a new --out"):
            Trainer(small_config(folder, tmp_path, 4, **change), progress=False)


def test_a_step_with_non_finite_gradients_leaves_the_weights_alone(folder, tmp_path):
    trainer = Trainer(small_config(folder, tmp_path, 4), progress=False)
    crops, _ = trainer.batches[0]
    before = {k: v.clone() for k, v in trainer.model.named_parameters() if not k.endswith("quantiles")}
    trainer.train_step((crops, torch.tensor([float("nan"), 0.01])))  # a NaN loss: NaN gradients
    after = dict(trainer.model.named_parameters())
    assert [k for k, v in before.items() if not torch.equal(v, after[k])] == []
    trainer.train_step()  # a finite step after it still trains
    assert not torch.equal(before["g_a.0.weight"], trainer.model.g_a[0].weight)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_stops_after_the_current_step_with_a_checkpoint(folder, tmp_path, signum):
    trainer = Trainer(small_config(folder, tmp_path, 10**6, ckpt_every=10**6), progress=False)
    threading.Timer(1.0, os.kill, (os.getpid(), signum)).start()
    assert trainer.run() is None
    assert trainer.stopped_by == signum and 0 < trainer.step < 10**6
    assert Trainer(small_config(folder, tmp_path, 10**6), progress=False).step == trainer.step


def test_a_budgeted_run_sizes_its_schedule_once_and_a_resume_keeps_it(folder, tmp_path):
    first = Trainer(small_config(folder, tmp_path, 10**6, budget=600.0), progress=False)  # ample on a busy machine
    assert first.run(until=PROBE[1] + 3) is None
    sized = first.cfg.steps
    assert PROBE[1] + 3 < sized < 10**6
    resumed = Trainer(small_config(folder, tmp_path, 10**6, budget=600.0), progress=False)
    assert resumed.cfg.steps == sized
    assert resumed.run(until=PROBE[1] + 5) is None and resumed.cfg.steps == sized


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile needs a C++ compiler on CPU")  # fmt: skip
def test_compiled_training_computes_the_eager_loss_and_trains(folder, tmp_path):
    compiled = Trainer(small_config(folder, tmp_path / "c", 4, compile=True), progress=False)
    eager = Trainer(small_config(folder, tmp_path / "e", 4), progress=False)
    assert compiled.train_step()["loss"] == pytest.approx(eager.train_step()["loss"], rel=1e-4)
    assert compiled.run() == tmp_path / "c" / "model.pt"


def test_fixed_lmbda_mode_trains_a_single_rate_model(folder, tmp_path):
    path = Trainer(small_config(folder, tmp_path, 4, lmbda_min=0.01, lmbda_max=0.01), progress=False).run()
    model = load_model(path)
    image = random_image(np.random.default_rng(1), 64, 64)
    assert codec.inspect(codec.encode(image, 0.01, model)).lmbda == pytest.approx(0.01, rel=1e-4)
    with pytest.raises(ValueError, match="outside"):
        codec.encode(image, 0.02, model)


def test_learned_distortion_weights_move_and_survive_a_resume(folder, tmp_path):
    cfg = small_config(folder, tmp_path, 4, distortion="mse+ms-ssim", learn_weights=True)
    trainer = Trainer(cfg, progress=False)
    assert trainer.run(until=2) is None
    mu = trainer.weigh.mu.detach().clone()
    assert mu.abs().item() > 0
    assert torch.equal(Trainer(cfg, progress=False).weigh.mu.detach(), mu)


def test_validation_uses_held_out_images_at_fixed_lmbdas(folder, tmp_path):
    cfg = small_config(folder, tmp_path, 2, val_images=1, val_crop=64, val_every=2)
    trainer = Trainer(cfg, progress=False)
    assert len(trainer.batches.images) == 2 and len(trainer.val_images) == 1
    trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "val.jsonl").read_text().splitlines()]
    assert [r["lmbda"] for r in rows] == pytest.approx(np.geomspace(cfg.lmbda_min, cfg.lmbda_max, 5).tolist())
    assert all(r["step"] == 2 and r["bpp"] > 0 and math.isfinite(r["psnr"]) for r in rows)


def test_holding_out_more_images_than_there_are_is_refused(folder, tmp_path):
    with pytest.raises(ValueError, match="hold out"):
        Trainer(small_config(folder, tmp_path, 2, val_images=3), progress=False)


def test_entropy_models_stay_float32_under_bf16_autocast():
    model = ScaleHyperprior(ModelConfig(N=8, M=12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(1, 3, 64, 64), torch.tensor([0.01]))
    assert out["x_hat"].dtype == torch.bfloat16
    assert all(v.dtype == torch.float32 for v in out["likelihoods"].values())


@pytest.mark.parametrize("bf16", [True, False])
def test_float32_training_turns_tf32_off_and_bf16_training_leaves_it_alone(folder, tmp_path, bf16):
    flags = (torch.backends.cudnn, torch.backends.cuda.matmul)
    saved = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            f.allow_tf32 = True
        Trainer(small_config(folder, tmp_path, 2, bf16=bf16), progress=False)
        assert [f.allow_tf32 for f in flags] == [bf16, bf16]
    finally:
        for f, value in zip(flags, saved):
            f.allow_tf32 = value


@pytest.mark.parametrize("native", [True, False])
def test_bf16_autocast_is_used_on_cpus_with_native_bf16_only(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert bf16_native(torch.device("cpu")) is native
    assert bf16_native(torch.device("cuda"))


def _ddp_rank(rank: int, port: int, folder, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")  # fmt: skip
    trainer = Trainer(small_config(folder, out, 3, threads=1), progress=False)
    trainer.run()
    torch.save(dict(trainer.model.named_parameters()), out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_ddp_ranks_see_different_batches_and_end_with_identical_weights(folder, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_rank, args=(port, folder, tmp_path), nprocs=2)
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    single = Trainer(small_config(folder, tmp_path / "single", 3), progress=False)
    single.run()
    assert not torch.equal(single.model.g_a[0].weight, a["g_a.0.weight"])  # two ranks, twice the data


def test_export_of_a_checkpoint_gives_the_same_model(folder, tmp_path):
    path = Trainer(small_config(folder, tmp_path, 2), progress=False).run()
    export_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "exported.pt")
    assert (tmp_path / "exported.pt").exists()
    a, b = load_model(path), load_model(tmp_path / "exported.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert main(["export", str(tmp_path / "checkpoint.pt"), str(tmp_path / "half.pt"), "--half"]) == 0
    assert model_id(load_model(tmp_path / "half.pt")) == save_model(a, tmp_path / "a-half.pt", half=True)


def test_resuming_with_another_architecture_is_refused_before_the_images_are_decoded(folder, tmp_path, monkeypatch):
    Trainer(small_config(folder, tmp_path, 2), progress=False).run()
    cfg = small_config(folder, tmp_path, 4)
    cfg.N = 16
    monkeypatch.setattr("yotocodec.train.load_images", lambda *a, **k: pytest.fail("images decoded first"))
    with pytest.raises(ValueError, match="checkpoint .* was made with --N 8, not 16: start a new --out"):
        Trainer(cfg, progress=False)


def test_a_new_run_can_start_from_a_model_file_resume_and_export(folder, tmp_path):
    source = load_model(Trainer(small_config(folder, tmp_path / "a", 2), progress=False).run())
    tuned = Trainer(small_config(folder, tmp_path / "b", 4, init=str(tmp_path / "a" / "model.pt")), progress=False)
    assert tuned.step == 0
    assert all(torch.equal(v, tuned.model.state_dict()[k]) for k, v in _weights(source).items())
    assert tuned.run(until=2) is None
    resumed = Trainer(small_config(folder, tmp_path / "b", 4, init=str(tmp_path / "a" / "model.pt")), progress=False)
    assert resumed.step == 2  # the checkpoint wins over --init
    load_model(resumed.run())
    export_checkpoint(tmp_path / "b" / "checkpoint.pt", tmp_path / "exported.pt")
    assert not torch.equal(resumed.model.g_a[0].weight, source.g_a[0].weight)
    with pytest.raises(ValueError, match="--init"):
        Trainer(small_config(folder, tmp_path / "c", 2, N=6, init=str(tmp_path / "a" / "model.pt")), progress=False)
    with pytest.raises(ValueError, match="--init"):
        Trainer(small_config(folder, tmp_path / "d", 2, lmbda_max=0.1, init=str(tmp_path / "a" / "model.pt")), progress=False)


def test_widening_keeps_the_reconstruction_and_the_likelihoods_and_then_trains():
    torch.manual_seed(0)
    narrow = ScaleHyperprior(ModelConfig(8, 12)).eval()
    for film in (m for m in narrow.modules() if isinstance(m, FiLM)):  # λ-dependent, not the identity
        torch.nn.init.normal_(film.mlp[2].weight, std=0.1)
        torch.nn.init.normal_(film.mlp[2].bias, std=0.1)
    wide = ScaleHyperprior(ModelConfig(16, 20)).eval()
    widen(narrow, wide)
    x, lmbda = torch.rand(2, 3, 64, 64), torch.tensor([0.002, 0.1])
    with torch.no_grad():
        a, b = narrow(x, lmbda), wide(x, lmbda)
    assert torch.equal(a["x_hat"], b["x_hat"])
    assert torch.equal(a["likelihoods"]["y"], b["likelihoods"]["y"][:, :12])
    assert torch.allclose(a["likelihoods"]["z"], b["likelihoods"]["z"][:, :8], rtol=1e-5)  # summation order
    assert b["likelihoods"]["y"][:, 12:].min() > 0.9999  # added y channels: ~0 bits
    assert b["likelihoods"]["z"][:, 8:].log2().mean() > -0.5  # added z channels: a fraction of a bit
    b = wide.train()(x, lmbda)
    (b["x_hat"] - x).square().mean().backward()
    assert wide.g_a[0].weight.grad[8:].abs().sum() > 0  # the added channels learn


def test_a_run_can_start_from_a_narrower_model(folder, tmp_path):
    source = load_model(Trainer(small_config(folder, tmp_path / "a", 2), progress=False).run())
    wide = Trainer(small_config(folder, tmp_path / "b", 2, N=12, M=16, init=str(tmp_path / "a" / "model.pt")), progress=False)
    assert torch.equal(wide.model.g_s[0].weight[:12, :8], source.g_s[0].weight)
    load_model(wide.run())


def test_frozen_parts_keep_their_weights_and_reinit_parts_start_afresh(folder, tmp_path):
    source = load_model(Trainer(small_config(folder, tmp_path / "a", 2), progress=False).run())
    cfg = small_config(folder, tmp_path / "b", 2, init=str(tmp_path / "a" / "model.pt"),
                       freeze="g_a, g_s", reinit="h_a,h_s,entropy_bottleneck")  # fmt: skip
    refit = Trainer(cfg, progress=False)
    assert not torch.equal(refit.model.h_s[0].weight, source.h_s[0].weight)  # fresh
    fresh_h_s = refit.model.h_s[0].weight.clone()
    tuned = load_model(refit.run())
    for part in ("g_a", "g_s"):
        kept, theirs = _weights(tuned.get_submodule(part)), _weights(source.get_submodule(part))
        assert all(torch.equal(v, theirs[k]) for k, v in kept.items()), part
    assert not torch.equal(tuned.h_s[0].weight, fresh_h_s)  # the hyperprior trained


def test_freeze_and_reinit_refuse_unknown_parts_and_reinit_needs_init(folder, tmp_path):
    with pytest.raises(ValueError, match="--freeze: unknown part g_x; choose from g_a"):
        Trainer(small_config(folder, tmp_path / "a", 2, freeze="g_x"), progress=False)
    with pytest.raises(ValueError, match="leaves nothing to train"):
        Trainer(small_config(folder, tmp_path / "e", 2, freeze=",".join(PARTS)), progress=False)
    with pytest.raises(ValueError, match="give --init"):
        Trainer(small_config(folder, tmp_path / "b", 2, reinit="h_a"), progress=False)
    Trainer(small_config(folder, tmp_path / "c", 2, freeze="g_a"), progress=False).run(until=1)
    with pytest.raises(ValueError, match="checkpoint"):  # resuming with other frozen parts
        Trainer(small_config(folder, tmp_path / "c", 2), progress=False)


def test_torchrun_trains_two_ranks_from_the_command_line(folder, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "yotocodec.cli", "train", "--data", str(folder), "--out", str(tmp_path), "--N", "8", "--M", "12",
           "--steps", "2", "--crop", "64", "--batch-size", "2", "--val-images", "0", "--threads", "1", "--no-bf16"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("model written") == 1  # rank 0 alone writes and reports
    assert load_model(tmp_path / "model.pt").config.N == 8


@pytest.mark.parametrize("change, match", [({"steps": 0}, "--steps"), ({"batch_size": 0}, "--batch-size"),
                                           ({"crop": 100}, "multiple of 64"), ({"lmbda_min": 0.0}, "--lmbda-min"),
                                           ({"lr": -1.0}, "--lr"), ({"workers": -1}, "negative"), ({"budget": -5.0}, "--budget"),
                                           ({"distortion": "msssim"}, "--distortion"), ({"distortion": "mse+mse"}, "--distortion"),
                                           ({"learn_weights": True}, "mix"), ({"weights": "0.7,0.3"}, "mix"),
                                           ({"clip": 0.0}, "--clip"), ({"clip": -1.0}, "--clip"),
                                           ({"final_lr_ratio": -2.0}, "--final-lr-ratio"), ({"val_every": -1}, "negative"),
                                           ({"weight_prior": -0.1}, "negative"), ({"lr": math.inf}, "--lr"),
                                           ({"budget": math.inf}, "--budget"), ({"budget": math.nan}, "--budget")])
def test_settings_that_cannot_train_are_refused_before_any_work(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change)


@pytest.mark.parametrize("option, message", [(["--clip", "-1"], "--clip must be positive"),
                                             (["--crop", "100"], "--crop must be a positive multiple")])
def test_yoto_train_refuses_settings_that_cannot_train_as_a_usage_error(tmp_path, capsys, option, message):
    with pytest.raises(SystemExit) as exit:
        main(["train", "--out", str(tmp_path / "run"), *option])
    assert exit.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_yoto_train_given_a_file_as_data_says_it_takes_a_folder(folder, tmp_path, capsys):
    assert main(["train", "--data", str(folder / "0.png"), "--out", str(tmp_path / "run")]) == 1
    assert f"{folder / '0.png'} is a file: --data takes a folder" in capsys.readouterr().err


def test_a_diverged_run_stops_before_checkpointing_non_finite_weights(folder, tmp_path):
    assert Trainer(small_config(folder, tmp_path, 8, ckpt_every=2), progress=False).run(until=2) is None
    kept = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match="training diverged by step .*lower --lr"):
        Trainer(small_config(folder, tmp_path, 8, ckpt_every=2, lr=1e9), progress=False).run()
    assert (tmp_path / "checkpoint.pt").read_bytes() == kept and not (tmp_path / "model.pt").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 cut short", None])  # None: a model file in its place
def test_a_damaged_or_foreign_checkpoint_is_named_not_a_traceback(folder, tmp_path, tiny_model_path, content):
    tmp_path.mkdir(exist_ok=True)
    if content is None:
        shutil.copy(tiny_model_path, tmp_path / "checkpoint.pt")
    else:
        (tmp_path / "checkpoint.pt").write_bytes(content)
    with pytest.raises(ValueError, match="checkpoint.pt is not a yotocodec training checkpoint"):
        Trainer(small_config(folder, tmp_path, 4), progress=False)


def test_exporting_a_checkpoint_onto_itself_is_refused_and_the_checkpoint_kept(folder, tmp_path):
    assert Trainer(small_config(folder, tmp_path, 4), progress=False).run(until=2) is None
    kept = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match="is the checkpoint itself"):
        export_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "." / "checkpoint.pt")
    assert (tmp_path / "checkpoint.pt").read_bytes() == kept


@pytest.mark.parametrize("device", ["foo", "cuda:7", "meta"])
def test_a_device_torch_cannot_train_on_is_refused_in_one_line(folder, tmp_path, device):
    with pytest.raises(ValueError, match="--device"):
        Trainer(small_config(folder, tmp_path, 4, device=device), progress=False)


def test_a_checkpoint_given_where_a_model_file_goes_points_to_export(folder, tmp_path):
    assert Trainer(small_config(folder, tmp_path, 4), progress=False).run(until=2) is None
    with pytest.raises(ValueError, match="but a training checkpoint: `yoto export`"):
        load_model(tmp_path / "checkpoint.pt")


def test_export_of_a_file_that_is_not_a_checkpoint_says_so(tmp_path, tiny_model_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG not a checkpoint")
    for path in (tmp_path / "x.png", tiny_model_path):  # garbage, and a model file (already exported)
        with pytest.raises(ValueError, match="not a yotocodec training checkpoint"):
            export_checkpoint(path, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_rerunning_a_completed_run_says_so(folder, tmp_path, capsys):
    args = ["train", "--data", str(folder), "--out", str(tmp_path), "--N", "8", "--M", "12", "--steps", "2",
            "--crop", "64", "--batch-size", "2", "--val-images", "0", "--threads", "1", "--workers", "0", "--no-bf16"]  # fmt: skip
    assert main(args) == 0 and "model written to" in capsys.readouterr().out
    assert main(args) == 0 and "had already trained all 2 steps" in capsys.readouterr().out
