"""``yoto train``: loss-conditional (YOTO) training of the variable-rate hyperprior.

Each sample draws its own λ log-uniformly from [λ_min, λ_max]; λ_min = λ_max trains the
fixed-λ baseline in the same code path. The loss is the batch mean of λ·D + bpp, D being
255²·MSE or (``--distortion mse+ms-ssim``) a mix whose weights may be learned in the same
run (``--learn-weights``, lossweights.py), plus the factorized prior's auxiliary loss on
its own optimizer.

- Step ``s`` draws everything random (crops, flips, λ, quantization noise) from generators
  seeded with (seed, rank, s), so a run resumed from any checkpoint repeats an
  uninterrupted one step for step, and worker processes can prepare batches ahead.
- Under ``torchrun`` the loss is wrapped in DistributedDataParallel (gloo on CPU, NCCL on
  CUDA); each rank draws its own batches, so the global batch is ``world × batch_size``.
- The transforms run under bf16 autocast (entropy models stay in float32) on CUDA and on
  CPUs with native bf16 (AVX512-BF16/AMX), where it makes a step ~1.6× faster; ``bf16=False``
  trains in float32 (on CUDA without TF32).
- A checkpoint (weights + optimizers + step) is written atomically every ``ckpt_every``
  steps, and on SIGTERM/SIGINT/SIGHUP after the current step; re-running the command resumes.
- ``budget`` (seconds) sizes the run to the machine: a new run times steps PROBE of its
  own (after their first few, which carry one-off costs) and then sets ``steps`` so that
  training ends about ``budget`` seconds after it began; the sized length is checkpointed,
  so a resumed run keeps its schedule.
- ``compile`` runs the training step's forward and backward through ``torch.compile``
  (fused kernels; on this project's CPU 1.3–1.7× faster per step after a compilation of
  about 1.5 minutes at the first step, ``benchmarks/test_compile_speed.py``).
- ``freeze`` (comma-separated parts, ``PARTS``) keeps those parts' weights as they are, e.g.
  ``g_a,g_s`` refits the hyperprior alone (the loss's distortion is then constant);
  ``reinit`` makes parts of the ``init`` model start from a fresh initialisation.
- Every ``val_every`` steps the loss, bpp and PSNR at a few fixed λ on center crops of
  images held out from the training folder are appended to ``OUT/val.jsonl``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .lmbda import LMBDA_MAX, LMBDA_MIN
from .data import StepBatches, center_crop, list_images, load_images, split_holdout, step_seed
from .losses import DISTORTIONS, rd_loss
from .lossweights import LossWeights
from .metrics import mse_to_psnr
from .model import ModelConfig, ScaleHyperprior, bf16_native, widen
from .modelfile import atomic_save, load_model, load_weights, read_dict, save_model


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
    workers: int = 2
    device: str = "auto"
    bf16: bool = True
    ckpt_every: int = 250
    val_images: int = 8
    val_every: int = 1000
    val_crop: int = 256
    distortion: str = "mse"
    learn_weights: bool = False
    weight_prior: float = 0.01
    weights: str = ""
    init: str = ""
    budget: float = 0.0
    compile: bool = False
    freeze: str = ""
    reinit: str = ""

    def __post_init__(self) -> None:
        """Refuse settings that cannot train, before any work (a one-line error each)."""
        f, names = ScaleHyperprior.downsampling_factor, self.distortion.split("+")
        checks = (
            (self.steps >= 1, f"--steps must be 1 or more, got {self.steps}"),
            (self.batch_size >= 1, f"--batch-size must be 1 or more, got {self.batch_size}"),
            (self.crop >= f and self.crop % f == 0, f"--crop must be a positive multiple of {f}, got {self.crop}"),
            (self.val_crop >= f and self.val_crop % f == 0, f"--val-crop must be a positive multiple of {f}, got {self.val_crop}"),
            (min(self.N, self.M) >= 1, f"--N and --M must be 1 or more, got {self.N}, {self.M}"),
            (0 < self.lmbda_min <= self.lmbda_max, f"need 0 < --lmbda-min <= --lmbda-max, got {self.lmbda_min}, {self.lmbda_max}"),
            (0 < self.lr < math.inf and 0 < self.aux_lr < math.inf,
             f"--lr and --aux-lr must be positive and finite, got {self.lr}, {self.aux_lr}"),
            (0 < self.clip < math.inf, f"--clip must be positive and finite (a gradient-norm cap), got {self.clip}"),
            (0 <= self.final_lr_ratio <= 1, f"--final-lr-ratio must be in [0, 1], got {self.final_lr_ratio}"),
            (self.ckpt_every >= 1, f"--ckpt-every must be 1 or more, got {self.ckpt_every}"),
            (min(self.warmup, self.workers, self.threads, self.val_images, self.val_every, self.weight_prior) >= 0,
             "--warmup, --workers, --threads, --val-images, --val-every and --weight-prior cannot be negative"),
            (0 <= self.budget < math.inf, f"--budget must be 0 (none) or a finite number of seconds, got {self.budget}"),
            (set(names) <= set(DISTORTIONS) and len(set(names)) == len(names),
             f"--distortion {self.distortion!r}: use one of {', '.join(DISTORTIONS)} or a mix like mse+ms-ssim"),
            (len(names) > 1 or not (self.learn_weights or self.weights),
             "--learn-weights and --weights weigh a mix of distortions: give one, e.g. --distortion mse+ms-ssim"),
        )  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


RUN_DEFINING = ("N", "M", "lmbda_min", "lmbda_max", "distortion", "freeze", "learn_weights", "weights")
"""Settings a resumed run must keep: they shape the model, its optimizer state or its loss."""
OPERATIONAL = ("out", "threads", "workers", "device", "compile", "ckpt_every", "val_every", "budget")
"""Settings a resumed run may change without comment: where and how fast it runs, how often it logs."""

PARTS = ("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck")
"""What ``--freeze`` and ``--reinit`` name: the four transforms and z's factorized prior."""


def _flag(setting: str) -> str:
    """The command-line flag of a ``TrainConfig`` field: lmbda_max → --lmbda-max."""
    return "--" + setting.replace("_", "-")


def parts(names: str, option: str) -> list[str]:
    """The model parts in a comma-separated ``--freeze``/``--reinit`` value, checked."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in PARTS]
    if unknown:
        raise ValueError(f"{option}: unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return chosen


def loss_weights(cfg: TrainConfig) -> LossWeights | None:
    """The distortion mix of ``--distortion a+b``: learned (``--learn-weights``, uniform start,
    prior strength ``--weight-prior``) or fixed (``--weights 0.7,0.3``, default equal)."""
    names = tuple(cfg.distortion.split("+"))
    if names == ("mse",):
        return None
    init = tuple(float(w) for w in cfg.weights.split(",")) if cfg.weights else None
    return LossWeights(names, learn=cfg.learn_weights, strength=cfg.weight_prior, init=init)


PROBE = (10, 50)
"""A budgeted run times its steps PROBE[0]..PROBE[1] (counted from where it started)."""
BUDGET_MARGIN = 0.95
"""Share of the budget left after the probe that is planned as steps at the probed rate: the
rest absorbs checkpoints and validation, which the probe does not see."""

VAL_POINTS = 5
"""Number of fixed λ (log-spaced over the trained range) reported by validation."""


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr·final_lr_ratio`` at ``steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    ratio = cfg.final_lr_ratio + (1 - cfg.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * ratio


def validation_lmbdas(cfg: TrainConfig) -> list[float]:
    """The λ values validation reports: log-spaced over the range (one for a fixed-λ run)."""
    if cfg.lmbda_min == cfg.lmbda_max:
        return [cfg.lmbda_min]
    return np.geomspace(cfg.lmbda_min, cfg.lmbda_max, VAL_POINTS).tolist()


@torch.no_grad()
def evaluate(model: ScaleHyperprior, images: list[Tensor], lmbdas: list[float],
             weigh: LossWeights | None = None) -> list[dict[str, float]]:  # fmt: skip
    """Mean loss, bpp and PSNR of ``model`` (as it is: eval mode codes rounded latents) on
    uint8 (3, H, W) ``images``, one row per λ."""
    device = next(model.parameters()).device
    rows = []
    for lm in lmbdas:
        sums = np.zeros(3)
        for im in images:
            x = im[None].to(device).float().div_(255.0)
            lmbda = torch.tensor([lm], device=device)
            terms = rd_loss(model(x, lmbda), x, lmbda, weigh)
            sums += [float(terms[k]) for k in ("loss", "bpp", "mse")]
        loss, bpp, mse = sums / max(1, len(images))
        rows.append({"lmbda": lm, "loss": loss, "bpp": bpp, "psnr": mse_to_psnr(mse)})
    return rows


class Objective(nn.Module):
    """Model and loss in one forward pass, so that DDP sees every gradient (aux included)."""

    def __init__(self, model: ScaleHyperprior, bf16: bool, weigh: LossWeights | None = None):
        super().__init__()
        self.model, self.bf16, self.weigh = model, bf16, weigh

    def forward(self, x: Tensor, lmbda: Tensor) -> dict[str, Tensor]:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(x, lmbda)
        return rd_loss(out, x, lmbda, self.weigh) | {"aux": self.model.aux_loss()}


def compiled(objective: nn.Module) -> nn.Module:
    """``objective`` through ``torch.compile``, its random draws (quantization noise) left to
    eager PyTorch: inductor's own generator made NaN rates here (torch 2.14, CPU, 268 of
    8,192 y likelihoods of one batch), and this way a compiled run draws the noise an eager
    run draws."""
    torch._inductor.config.fallback_random = True
    return torch.compile(objective)


def _init_distributed(device: str) -> tuple[int, int]:
    """(rank, world size); joins the process group when started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    usable = {"cpu": True, "cuda": (device.index or 0) < torch.cuda.device_count(),
              "mps": torch.backends.mps.is_available()}  # fmt: skip
    if usable.get(device.type, False):
        return device
    raise ValueError(f"--device {name}: torch sees no such device here (use auto, cpu, cuda or cuda:N)")


@contextmanager
def _stop_requests():
    """Turns SIGTERM/SIGINT, and SIGHUP unless ignored (``nohup``), into a flag checked between
    steps (main thread only)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    hup = getattr(signal, "SIGHUP", None)  # (none on Windows)
    stops = [signal.SIGTERM, signal.SIGINT] + ([hup] if hup and signal.getsignal(hup) is not signal.SIG_IGN else [])
    previous = {s: signal.signal(s, lambda signum, _: received.append(signum)) for s in stops}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _leave_signals_to_main(_worker_id: int) -> None:
    """Data workers leave Ctrl-C, SIGTERM and SIGHUP (to the whole process group, as `timeout`,
    schedulers and a closed terminal send them) to the main process, which checkpoints and
    stops them cleanly."""
    for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if s is not None:
            signal.signal(s, signal.SIG_IGN)


class Trainer:
    """Model, optimizers and data of one run (one rank of it); ``run()`` trains."""

    def __init__(self, cfg: TrainConfig, progress: bool = True):
        self.cfg = cfg
        self.device = _pick_device(cfg.device)
        self.rank, self.world = _init_distributed(self.device.type)
        self.progress = progress and self.rank == 0
        self.stopped_by: int | None = None
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.backends.cudnn.benchmark = True  # CUDA: the fastest kernels for the fixed crop size
        if not cfg.bf16:  # float32 means float32: CUDA's TF32 (10-bit mantissa, cuDNN's default) off
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        torch.manual_seed(cfg.seed)
        self.model = ScaleHyperprior(ModelConfig(cfg.N, cfg.M, cfg.lmbda_min, cfg.lmbda_max)).to(self.device)
        for part in parts(cfg.freeze, "--freeze"):
            self.model.get_submodule(part).requires_grad_(False)
        self.weigh = loss_weights(cfg)
        self.weigh = self.weigh.to(self.device) if self.weigh is not None else None
        self.objective: nn.Module = Objective(self.model, cfg.bf16 and bf16_native(self.device), self.weigh)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.objective = DistributedDataParallel(self.objective, device_ids=ids)
        main = [p for n, p in self.objective.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
        if not main:
            raise ValueError(f"--freeze {cfg.freeze} leaves nothing to train: freeze fewer parts")
        self.opt = torch.optim.Adam(main, lr=cfg.lr)
        self.aux_opt = torch.optim.Adam([self.model.entropy_bottleneck.quantiles], lr=cfg.aux_lr)
        if cfg.compile:
            self.objective = compiled(self.objective)
        self.step = 0
        self.changes: list[dict] = []
        self.sized = not cfg.budget
        self.out = Path(cfg.out)
        train_files, val_files = split_holdout(list_images(cfg.data), cfg.val_images)
        self._resume()  # before decoding the images: a run that cannot resume says so at once
        images = load_images(train_files, cfg.crop, self.progress)
        self.batches = StepBatches(images, cfg.crop, cfg.batch_size, (cfg.lmbda_min, cfg.lmbda_max),
                                   cfg.seed, self.rank)  # fmt: skip
        self.val_images = [center_crop(im, cfg.val_crop) for im in load_images(val_files, cfg.val_crop, False, "--val-crop")]

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _resume(self) -> None:
        if not self.checkpoint_path.exists():
            self._initialise()
            return
        ck = read_dict(self.checkpoint_path, "training checkpoint (move it away to start afresh)",
                       ("config", "model", "opt", "aux_opt", "step"))  # fmt: skip
        if self.cfg.budget and ck.get("sized"):
            self.cfg.steps, self.sized = ck["config"]["steps"], True
        diff = self._changed(ck["config"])
        defining = {k: ab for k, ab in diff.items() if k in RUN_DEFINING}
        if defining:
            made = ", ".join(f"{_flag(k)} {a!r}, not {b!r}" for k, (a, b) in defining.items())
            raise ValueError(f"checkpoint {self.checkpoint_path} was made with {made}: "
                             "start a new --out (--init takes an exported model)")  # fmt: skip
        load_weights(self.model, ck["model"])
        if self.weigh is not None:
            self.weigh.load_state_dict(ck["loss_weights"])
        self.opt.load_state_dict(ck["opt"])
        self.aux_opt.load_state_dict(ck["aux_opt"])
        self.step = ck["step"]
        self.changes = ck.get("changes", []) + ([{"step": self.step, "changed": diff}] if diff else [])
        if diff and self.rank == 0:
            said = ", ".join(f"{_flag(k)} {a} -> {b}" for k, (a, b) in diff.items())
            print(f"resuming at step {self.step} with changed settings: {said}", file=sys.stderr)

    def _changed(self, saved: dict) -> dict[str, list]:
        """{setting: [checkpoint's value, this run's]} for every setting this resumption
        changes (a setting older checkpoints lack counts as its default), except those that
        only affect speed or logging."""
        return {k: [old, v] for k, v in asdict(self.cfg).items()
                if k not in OPERATIONAL and (old := saved.get(k, getattr(TrainConfig, k))) != v}  # fmt: skip

    def _initialise(self) -> None:
        """A new run with ``--init MODEL`` starts from that model file's weights (fine-tuning:
        fresh optimizers, step 0). The model must have this run's λ range; a narrower one
        (smaller N and/or M) is widened so that the run starts from its reconstructions.
        The ``--reinit`` parts keep their fresh initialisation instead."""
        reinit = parts(self.cfg.reinit, "--reinit")
        if not self.cfg.init:
            if reinit:
                raise ValueError("--reinit names parts of the --init model to start afresh: give --init too")
            return
        fresh = {part: copy.deepcopy(self.model.get_submodule(part).state_dict()) for part in reinit}
        source = load_model(self.cfg.init)
        mine, theirs = self.model.config, source.config
        fixed = lambda c: (c.lmbda_min, c.lmbda_max, c.film_hidden)  # noqa: E731
        if fixed(theirs) != fixed(mine) or theirs.N > mine.N or theirs.M > mine.M:
            raise ValueError(f"--init {self.cfg.init} is a {theirs} model, which cannot start a {mine} run: "
                             "give the same --lmbda-min and --lmbda-max, and --N, --M at least its own")  # fmt: skip
        widen(source, self.model)
        for part, state in fresh.items():
            self.model.get_submodule(part).load_state_dict(state)

    def save_checkpoint(self) -> None:
        if self.rank == 0:
            atomic_save(
                {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                 "aux_opt": self.aux_opt.state_dict(), "step": self.step, "config": asdict(self.cfg), "sized": self.sized,
                 "loss_weights": self.weigh.state_dict() if self.weigh is not None else {}, "changes": self.changes},
                self.checkpoint_path,
            )  # fmt: skip

    def train_step(self, batch: tuple[Tensor, Tensor] | None = None) -> dict[str, float]:
        """One optimizer step on step ``self.step``'s batch (made here unless given)."""
        cfg = self.cfg
        crops, lmbda = self.batches[self.step] if batch is None else batch
        x = crops.to(self.device, non_blocking=True).float().div_(255.0)
        lmbda = lmbda.to(self.device, non_blocking=True)
        torch.manual_seed(step_seed(cfg.seed, self.rank, self.step, 1))  # quantization noise
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        self.model.train()
        terms = self.objective(x, lmbda)
        self.opt.zero_grad(set_to_none=True)
        self.aux_opt.zero_grad(set_to_none=True)
        (terms["loss"] + terms["aux"]).backward()  # the aux loss only reaches the quantiles
        norm = torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], cfg.clip)
        if torch.isfinite(norm):  # gradients are all-reduced: every rank decides alike
            self.opt.step()
        self.aux_opt.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in terms.items()}

    def validate(self) -> list[dict[str, float]]:
        """Loss, bpp and PSNR (rounded latents) on the held-out crops at the validation λs."""
        self.model.eval()
        rows = evaluate(self.model, self.val_images, validation_lmbdas(self.cfg), self.weigh)
        self.model.train()
        extra = {"weights": self.weigh.as_dict()} if self.weigh is not None else {}
        return [{"step": self.step} | row | extra for row in rows]

    def _log_validation(self, bar: tqdm) -> None:
        rows = self.validate()
        with open(self.out / "val.jsonl", "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        bar.write(f"val @{self.step}: " + "  ".join(f"λ={r['lmbda']:.3g} {r['bpp']:.3f} bpp "
                                                    f"{r['psnr']:.2f} dB" for r in rows))  # fmt: skip

    def _reduce(self, value: int, op: dist.ReduceOp) -> int:
        if self.world == 1:
            return value
        t = torch.tensor([value], device=self.device)
        dist.all_reduce(t, op=op)
        return int(t.item())

    def _check_finite(self) -> None:
        """Refuse to checkpoint diverged weights (single non-finite steps are skipped, so these
        mean the run itself blew up; DDP ranks hold the same weights and stop together)."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise ValueError(f"training diverged by step {self.step} (weights not finite): lower --lr and "
                             "resume, or start a new --out; the last checkpoint is kept")  # fmt: skip

    def _any_rank(self, flag: bool) -> bool:
        return bool(self._reduce(int(flag), dist.ReduceOp.MAX))

    def _size_to_budget(self, rate: float, elapsed: float) -> None:
        """Set ``steps`` to what ``rate`` steps/s fit into the budget's remaining seconds
        (the same on every rank: the slowest one's)."""
        more = int(rate * max(0.0, self.cfg.budget - elapsed) * BUDGET_MARGIN)
        self.cfg.steps, self.sized = self._reduce(self.step + more, dist.ReduceOp.MIN), True

    def run(self, until: int | None = None) -> Path | None:
        """Train to step ``until`` (default ``cfg.steps``), checkpointing on the way.

        On reaching ``cfg.steps``, writes and returns the model file ``OUT/model.pt``.
        Stopping earlier (a chunk of a longer run, or SIGTERM/SIGINT, recorded in
        ``stopped_by``) leaves a checkpoint and returns None.
        """
        cfg = self.cfg
        until = until or cfg.steps
        self.out.mkdir(parents=True, exist_ok=True)
        loader = torch.utils.data.DataLoader(
            self.batches, batch_size=None, sampler=range(self.step, min(until, cfg.steps)), num_workers=cfg.workers,
            pin_memory=self.device.type == "cuda", worker_init_fn=_leave_signals_to_main)  # fmt: skip
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not self.progress, desc="train",
                   unit="step", dynamic_ncols=True)  # fmt: skip
        start, t0, t_probe, px = self.step, time.perf_counter(), 0.0, 0
        with _stop_requests() as signals:
            for batch in loader:
                m = self.train_step(batch)
                if not self.sized and self.step == start + PROBE[0]:
                    t_probe = time.perf_counter()
                elif not self.sized and self.step == start + PROBE[1]:
                    now = time.perf_counter()
                    self._size_to_budget((PROBE[1] - PROBE[0]) / (now - t_probe), now - t0)
                    bar.total = cfg.steps
                px += self.world * cfg.batch_size * cfg.crop**2
                bar.set_postfix(loss=f"{m['loss']:.3f}", bpp=f"{m['bpp']:.3f}", psnr=f"{mse_to_psnr(m['mse']):.2f}",
                                px_s=f"{px / (time.perf_counter() - t0):.3g}", refresh=False)  # fmt: skip
                bar.update(1)
                stop = self._any_rank(bool(signals))
                end = self.step >= min(until, cfg.steps)
                if self.step % cfg.ckpt_every == 0 or end or stop:
                    self._check_finite()
                    self.save_checkpoint()
                if self.rank == 0 and self.val_images and cfg.val_every and self.step % cfg.val_every == 0:
                    self._log_validation(bar)
                if stop:
                    self.stopped_by = signals[0] if signals else signal.SIGTERM
                if stop or end:
                    break
        bar.close()
        if self.step < cfg.steps:
            return None
        path = self.out / "model.pt"
        if self.rank == 0:
            save_model(self.model, path)
        if self.world > 1:
            dist.barrier()
        return path


def export_checkpoint(checkpoint: str | Path, out: str | Path, half: bool = False) -> bytes:
    """Write the inference model file of a training checkpoint (``half``: float16 weights,
    see ``save_model``); returns the model id."""
    if Path(out).exists() and Path(out).samefile(checkpoint):
        raise ValueError(f"{out} is the checkpoint itself: write the model file elsewhere (the checkpoint would be lost)")
    ck = read_dict(checkpoint, "training checkpoint (OUT/checkpoint.pt of `yoto train`)", ("config", "model"))
    c, state = ck["config"], ck["model"]
    model = ScaleHyperprior(ModelConfig(c["N"], c["M"], c["lmbda_min"], c["lmbda_max"]))
    load_weights(model, state)
    return save_model(model, out, half)
