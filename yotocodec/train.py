"""``yoto train``: loss-conditional (YOTO) training of the variable-rate hyperprior.

Each sample draws its own λ log-uniformly from [λ_min, λ_max]; the loss is the batch mean
of λ·255²·MSE + bpp, plus the factorized prior's auxiliary loss on its own optimizer.
Checkpoints (weights + optimizer + RNG) are written atomically every ``ckpt_every`` steps
to ``OUT/checkpoint.pt``; re-running the same command resumes from there.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .conditioning import LMBDA_MAX, LMBDA_MIN, sample_lmbda
from .data import CropSampler, list_images
from .losses import rd_loss
from .metrics import mse_to_psnr
from .model import ModelConfig, ScaleHyperprior
from .modelfile import atomic_save, save_model


@dataclass
class TrainConfig:
    """All training knobs in one place (nanoGPT style); ``yoto train --help`` lists them."""

    data: str = "../shared/data/train"
    out: str = "runs/default"
    N: int = 128
    M: int = 192
    lmbda_min: float = LMBDA_MIN
    lmbda_max: float = LMBDA_MAX
    steps: int = 100_000
    batch_size: int = 8
    crop: int = 128
    lr: float = 1e-4
    warmup: int = 500
    final_lr_ratio: float = 0.05
    aux_lr: float = 1e-3
    clip: float = 1.0
    seed: int = 0
    threads: int = 0
    ckpt_every: int = 250


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr·final_lr_ratio`` at ``steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    ratio = cfg.final_lr_ratio + (1 - cfg.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * ratio


class Trainer:
    """Model, optimizers, data and RNG of one run; ``run()`` trains to ``cfg.steps``."""

    def __init__(self, cfg: TrainConfig, progress: bool = True):
        self.cfg, self.progress = cfg, progress
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = ScaleHyperprior(ModelConfig(cfg.N, cfg.M, cfg.lmbda_min, cfg.lmbda_max))
        params = {n: p for n, p in self.model.named_parameters() if not n.endswith(".quantiles")}
        self.opt = torch.optim.Adam(params.values(), lr=cfg.lr)
        self.aux_opt = torch.optim.Adam([self.model.entropy_bottleneck.quantiles], lr=cfg.aux_lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.out = Path(cfg.out)
        self.sampler = CropSampler(list_images(cfg.data), cfg.crop, progress)
        self._resume()

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _resume(self) -> None:
        if not self.checkpoint_path.exists():
            return
        ck = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        saved = {k: ck["config"][k] for k in ("N", "M", "lmbda_min", "lmbda_max")}
        mine = {k: getattr(self.cfg, k) for k in saved}
        if saved != mine:
            raise ValueError(f"checkpoint {self.checkpoint_path} was made with {saved}, not {mine}")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["opt"])
        self.aux_opt.load_state_dict(ck["aux_opt"])
        self.gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        self.step = ck["step"]

    def save_checkpoint(self) -> None:
        atomic_save(
            {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
             "aux_opt": self.aux_opt.state_dict(), "gen": self.gen.get_state(),
             "torch_rng": torch.get_rng_state(), "step": self.step, "config": asdict(self.cfg)},
            self.checkpoint_path,
        )  # fmt: skip

    def train_step(self) -> dict[str, float]:
        """One optimizer step on a fresh batch, each sample with its own λ."""
        cfg = self.cfg
        x = self.sampler.batch(cfg.batch_size, self.gen)
        lmbda = sample_lmbda(cfg.batch_size, cfg.lmbda_min, cfg.lmbda_max, self.gen)
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        self.model.train()
        terms = rd_loss(self.model(x, lmbda), x, lmbda)
        self.opt.zero_grad(set_to_none=True)
        if torch.isfinite(terms["loss"]):
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], cfg.clip)
            self.opt.step()
        aux = self.model.aux_loss()
        self.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in terms.items()} | {"aux": float(aux.detach())}

    def run(self, until: int | None = None) -> Path | None:
        """Train to step ``until`` (default ``cfg.steps``), checkpointing on the way.

        On reaching ``cfg.steps``, writes and returns the model file ``OUT/model.pt``;
        stopping earlier (a chunk of a longer run) leaves a checkpoint and returns None.
        """
        cfg = self.cfg
        until = min(until or cfg.steps, cfg.steps)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not self.progress, desc="train",
                   unit="step", dynamic_ncols=True)  # fmt: skip
        t0, px = time.perf_counter(), 0
        while self.step < until:
            m = self.train_step()
            px += cfg.batch_size * cfg.crop**2
            bar.update(1)
            bar.set_postfix(loss=f"{m['loss']:.3f}", bpp=f"{m['bpp']:.3f}",
                            psnr=f"{mse_to_psnr(m['mse']):.2f}",
                            mpx_s=f"{px / 1e6 / (time.perf_counter() - t0):.2f}")  # fmt: skip
            if self.step % cfg.ckpt_every == 0 or self.step == until:
                self.save_checkpoint()
        bar.close()
        if self.step < cfg.steps:
            return None
        path = self.out / "model.pt"
        save_model(self.model, path)
        return path


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> bytes:
    """Write the inference model file of a training checkpoint; returns the model id."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    c = ck["config"]
    model = ScaleHyperprior(ModelConfig(c["N"], c["M"], c["lmbda_min"], c["lmbda_max"]))
    model.load_state_dict(ck["model"])
    return save_model(model, out)
