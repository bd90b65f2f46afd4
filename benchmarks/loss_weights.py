"""Learned loss weights (YOTO 2025) against a grid of fixed MSE/MS-SSIM mixes, same steps each.

Every run is a YOTO model over the whole λ range trained with ``--distortion mse+ms-ssim``:
  ``learned``   the mix learned in the run (uniform start, prior strength ``--prior``);
  ``fixed-w``   MS-SSIM weight w from ``--grid`` (MSE 1 − w).
Each is judged by one yardstick, the uniform mix λ·(½ d_mse + ½ d_ms-ssim) + bpp averaged
over 5 λ on crops held out from the training folder (never Kodak), and on Kodak with real
bitstreams by its PSNR and MS-SSIM BD-rate against the first grid point. Runs live in
``--runs`` and resume; results go to benchmarks/results/loss_weights.{json,md,png}.

    python benchmarks/loss_weights.py --runs /root/yotocodec-runs/lw --N 48 --M 64 --steps 4000
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from rd import PointCache, bd_rate, plot
from yoto_vs_fixed import base_config, evaluate, experiment_parser, train
from yotocodec.lmbda import LMBDA_MAX, LMBDA_MIN
from yotocodec.data import center_crop, list_images, load_images, split_holdout
from yotocodec.files import read_image
from yotocodec.losses import rd_loss
from yotocodec.lossweights import LossWeights
from yotocodec.modelfile import load_model
from yotocodec.train import TrainConfig


def run_configs(base: TrainConfig, grid: list[float], prior: float) -> dict[str, TrainConfig]:
    runs = {"learned": replace(base, learn_weights=True, weight_prior=prior)}
    runs |= {f"fixed-{w:g}": replace(base, weights=f"{1 - w:g},{w:g}") for w in grid}
    return {name: replace(cfg, out=str(Path(base.out) / name)) for name, cfg in runs.items()}


@torch.no_grad()
def heldout_objective(model_path: Path, crops: list[torch.Tensor]) -> float:
    """The uniform-mix RD objective on the held-out crops, averaged over 5 log-spaced λ."""
    model, yardstick = load_model(model_path), LossWeights(("mse", "ms-ssim"), learn=False)
    values = []
    for lm in np.geomspace(LMBDA_MIN, LMBDA_MAX, 5):
        for im in crops:
            x, lmbda = im[None].float() / 255, torch.tensor([lm], dtype=torch.float32)
            values.append(float(rd_loss(model(x, lmbda), x, lmbda, yardstick)["loss"]))
    return float(np.mean(values))


def learned_weights(run: Path) -> dict[str, float] | None:
    """The weights of the run's last validation (None before the first)."""
    log = run / "val.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return json.loads(lines[-1]).get("weights") if lines else None


def main() -> None:
    p = experiment_parser(__doc__)
    p.add_argument("--grid", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8], help="MS-SSIM weights")
    p.add_argument("--prior", type=float, default=0.01, help="uniform-prior strength of the learned run")
    p.add_argument("--points", type=int, default=6, help="λ values at which each model is coded on Kodak")
    args = p.parse_args()
    base = base_config(args, distortion="mse+ms-ssim")
    runs = run_configs(base, args.grid, args.prior)
    models = {name: train(cfg)[0] for name, cfg in runs.items()}
    _, held_out = split_holdout(list_images(args.data), base.val_images)
    crops = [center_crop(im, base.val_crop) for im in load_images(held_out, base.val_crop, False)]
    images = {f.name: read_image(f) for f in list_images(args.kodak)}
    cache = PointCache(Path(args.runs) / "points.jsonl")
    lmbdas = np.geomspace(LMBDA_MIN, LMBDA_MAX, args.points).round(6).tolist()
    curves = {name: evaluate(path, lmbdas, images, cache) for name, path in models.items()}
    anchor = f"fixed-{args.grid[0]:g}"
    rows = {name: {"heldout_objective": heldout_objective(path, crops),
                   "bd_rate_psnr": bd_rate(curves[anchor], curves[name], "psnr"),
                   "bd_rate_ms_ssim": bd_rate(curves[anchor], curves[name], "ms-ssim"),
                   "weights": learned_weights(Path(runs[name].out)) if name == "learned" else
                   dict(zip(("mse", "ms-ssim"), map(float, runs[name].weights.split(","))))}
            for name, path in models.items()}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"scale": asdict(base) | {"out": None}, "anchor": anchor, "runs": rows, "curves": curves}
    (out / "loss_weights.json").write_text(json.dumps(result, indent=1))
    lines = [f"Scale: N={args.N}, M={args.M}, crop {base.crop}², batch {base.batch_size}, {args.steps} steps per "
             f"run; Kodak ({len(images)} images), real bitstreams. BD-rates against {anchor}.", "",
             "| run | weights (mse / ms-ssim) | held-out objective (lower is better) | BD-rate PSNR | BD-rate MS-SSIM |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, r in rows.items():
        w = r["weights"] or {}
        lines.append(f"| {name} | {w.get('mse', float('nan')):.3f} / {w.get('ms-ssim', float('nan')):.3f} | "
                     f"{r['heldout_objective']:.4f} | {r['bd_rate_psnr']:+.1f} % | {r['bd_rate_ms_ssim']:+.1f} % |")  # fmt: skip
    (out / "loss_weights.md").write_text("\n".join(lines) + "\n")
    plot(curves, out / "loss_weights.png", "Learned vs fixed MSE/MS-SSIM mixes, Kodak", "ms-ssim")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
