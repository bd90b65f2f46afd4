"""The YOTO paper's central experiment on our code: one loss-conditional model vs fixed-λ models.

Trains, with the same architecture, data, schedule and number of steps each:
  (a) ``yoto``       one model over the whole λ range;
  (b) ``fixed-λ``    ``--fixed`` single-rate models at λ log-spaced over the range;
  (c) ``yoto-wide``  the YOTO model with every width ×1.33.
then codes Kodak with real bitstreams (yoto models at ``--points`` λ, fixed models at
their own λ), plots all RD curves in one PNG and reports the BD-rate of (a) and (c)
against the curve through the fixed models' points.

Runs live in ``--runs`` (outside git); each resumes from its checkpoint, so the script can
be stopped and started again. Results go to benchmarks/results/yoto_vs_fixed-STEPS.{json,md,png}.

    python benchmarks/yoto_vs_fixed.py --runs /root/yotocodec-runs/exp --N 48 --M 64 --steps 4000 [--compile]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rd import ROOT, PointCache, bd_rate, curve, pareto, plot, yotocodec_codec
from yotocodec.lmbda import LMBDA_MAX, LMBDA_MIN
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.train import TrainConfig, Trainer

WIDTH_FACTOR = 1.33


def run_configs(base: TrainConfig, fixed: int) -> dict[str, TrainConfig]:
    """The experiment's training runs, by name, each writing to its own folder."""
    runs = {"yoto": base}
    for lm in np.geomspace(base.lmbda_min, base.lmbda_max, fixed).round(6).tolist():
        runs[f"fixed-{lm:g}"] = replace(base, lmbda_min=lm, lmbda_max=lm)
    runs["yoto-wide"] = replace(base, N=round(base.N * WIDTH_FACTOR), M=round(base.M * WIDTH_FACTOR))
    return {name: replace(cfg, out=str(Path(base.out) / name)) for name, cfg in runs.items()}


def train(cfg: TrainConfig) -> tuple[Path, float]:
    """Train (or resume, or find finished) one run; returns its model file and the seconds spent now."""
    model = Path(cfg.out) / "model.pt"
    if model.exists():
        return model, 0.0
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    path = trainer.run()
    if trainer.stopped_by:  # SIGTERM/SIGINT stop the experiment, not just this run
        sys.exit(128 + trainer.stopped_by)
    return path, time.perf_counter() - t0


def evaluate(model_path: Path, lmbdas: list[float], images: dict, cache: PointCache) -> list[dict]:
    """Kodak RD points of one model (real bitstreams), cached for resumption."""
    c = replace(yotocodec_codec(str(model_path)), key=model_path.parent.name, params=lmbdas)
    return [{"lmbda": p.pop("param")} | p for p in curve(c, images, cache)]


def markdown(result: dict) -> str:
    s = result["scale"]
    rows = [f"Scale: N={s['N']}, M={s['M']} (wide: ×{WIDTH_FACTOR}), crop {s['crop']}², batch {s['batch_size']}, "
            f"{s['steps']} steps per model, lr {s['lr']} (warm-up {s['warmup']}, cosine), seed {s['seed']}; "
            f"Kodak ({result['images']} images), real bitstreams.", "",
            "| model | λ | bpp | PSNR (dB) |", "|---|---|---|---|"]  # fmt: skip
    for name, curve in result["curves"].items():
        rows += [f"| {name} | {p['lmbda']:g} | {p['bpp']:.3f} | {p['psnr']:.2f} |" for p in curve]
    dropped = ", ".join(result["fixed_dominated"]) or "none"
    rows += ["", f"BD-rate against the fixed-λ models' Pareto front (dominated models dropped: {dropped}; "
             "on each YOTO curve, points that add bits without adding quality are dropped likewise; negative = fewer bits):", ""]  # fmt: skip
    rows += [f"- {n}: {v:+.1f} %" for n, v in result["bd_rate_vs_fixed_percent"].items()]
    return "\n".join(rows)


def experiment_parser(doc: str) -> argparse.ArgumentParser:
    """The options every training experiment shares: where things live, and the scale."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder for the training runs (outside git)")
    p.add_argument("--data", default=TrainConfig.data)
    p.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--N", type=int, default=48)
    p.add_argument("--M", type=int, default=64)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--compile", action="store_true", help="torch.compile the training step (same model, faster)")
    return p


def base_config(args: argparse.Namespace, **changes) -> TrainConfig:
    """The training configuration an experiment's runs vary from."""
    return TrainConfig(data=args.data, out=args.runs, N=args.N, M=args.M, steps=args.steps,
                       batch_size=args.batch_size, crop=args.crop, lr=args.lr, warmup=args.warmup,
                       threads=args.threads, workers=0, val_every=max(1, args.steps // 4), compile=args.compile,
                       **changes)  # fmt: skip


def main() -> None:
    p = experiment_parser(__doc__)
    p.add_argument("--fixed", type=int, default=4, help="number of fixed-λ models")
    p.add_argument("--points", type=int, default=8, help="λ values at which the YOTO models are coded")
    args = p.parse_args()
    base = base_config(args)
    runs = run_configs(base, args.fixed)
    models = {name: train(cfg) for name, cfg in runs.items()}
    images = {f.name: read_image(f) for f in list_images(args.kodak)}
    cache = PointCache(Path(args.runs) / "points.jsonl")
    yoto_lmbdas = np.geomspace(LMBDA_MIN, LMBDA_MAX, args.points).round(6).tolist()
    curves = {}
    for name, (path, _) in models.items():
        cfg = runs[name]
        lmbdas = yoto_lmbdas if cfg.lmbda_min < cfg.lmbda_max else [cfg.lmbda_min]
        curves[name] = evaluate(path, lmbdas, images, cache)
    fixed = sorted((pt for n, c in curves.items() if n.startswith("fixed-") for pt in c), key=lambda q: q["lmbda"])
    front = pareto(fixed)
    shown = {"fixed-λ models": fixed, "YOTO": curves["yoto"], f"YOTO ×{WIDTH_FACTOR} wide": curves["yoto-wide"]}
    result = {"scale": asdict(base) | {"out": None}, "images": len(images), "curves": curves,
              "train_seconds_this_invocation": {n: s for n, (_, s) in models.items()},
              "fixed_dominated": [f"fixed-{p['lmbda']:g}" for p in fixed if p not in front],
              "bd_rate_vs_fixed_percent": {n: bd_rate(front, pareto(c)) for n, c in shown.items() if n != "fixed-λ models"}}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"yoto_vs_fixed-{args.steps}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1))
    stem.with_suffix(".md").write_text(markdown(result) + "\n")
    plot(shown, stem.with_suffix(".png"), f"YOTO vs fixed-λ models, {args.steps} steps each, Kodak ({len(images)} images)")
    print(markdown(result))


if __name__ == "__main__":
    main()
