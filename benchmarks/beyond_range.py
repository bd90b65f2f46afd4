"""What a model makes of λ beyond its trained range: FiLM's MLPs extrapolated, measured.

    python benchmarks/beyond_range.py [MODEL] [--images DIR]

``yoto encode`` refuses λ outside [λ_min, λ_max]. This shows why, and what a wider range would
have to be trained for: the held-out crops' mean bpp (the entropy models' estimate) and PSNR
(g_s of the rounded latents) at normalised log λ t from 0.6 to 2 (t = 1 is λ_max), with FiLM's
MLPs fed t as they are. Then the encoder-side route, which keeps the decoder inside its range:
FiLM at λ_max and y refined (``refine``, 50 steps) for a loss that weighs distortion by a λ
beyond it; real files, decoded. Writes benchmarks/results/beyond_range.md.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from heldout_loss import crop_sets
from rd import ROOT
from synthesis_ceiling import TRAIN
from yotocodec import codec, refine
from yotocodec.codec import DEFAULT_MODEL
from yotocodec.metrics import mse_to_psnr
from yotocodec.modelfile import load_model, model_id
from yotocodec.train import evaluate

T = (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0)
REFINE_LMBDAS = (1.0, 4.0, 16.0)
"""Distortion weights of the refined rows, beside λ_max's own."""
STEPS = 50


def refined_rows(path: str, crops: list, runs: list[tuple[int, float]]) -> list[str]:
    """Table rows: the crops' mean bpp and PSNR (of the mean MSE, as above) of files at λ_max
    whose y was refined for ``steps`` steps at the loss's λ, per (steps, λ) of ``runs``."""
    model = codec.load(path)
    images = [c.permute(1, 2, 0).numpy() for c in crops]
    rows = []
    for steps, lm in runs:
        bits, mse = 0.0, 0.0
        for im in images:
            data = refine.refine(codec.analyse(im, model.config.lmbda_max, model), im, steps, lmbda=lm).pack()
            bits += 8 * len(data) / (im.shape[0] * im.shape[1])
            mse += float(np.mean((np.asarray(codec.decode(data, model), np.float64) - im) ** 2))
        rows.append(f"| {steps} | {lm:.4g} | {bits / len(images):.3f} | {mse_to_psnr(mse / len(images), 255.0):.2f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default=str(DEFAULT_MODEL))
    p.add_argument("--images", type=Path, default=TRAIN, help="the training folder (never Kodak)")
    args = p.parse_args()
    model = load_model(args.model).float().eval()
    crops = crop_sets(args.images, None)["held-out"]
    lo, hi = math.log(model.config.lmbda_min), math.log(model.config.lmbda_max)
    lmbdas = [math.exp(lo + (t + 1) / 2 * (hi - lo)) for t in T]
    lines = [f"Model {model_id(model).hex()[:16]}, trained on λ ∈ [{model.config.lmbda_min:g}, {model.config.lmbda_max:g}]: "
             f"mean over the central 256² crops of the {len(crops)} held-out training photos.", "",
             "| t (1 = λ_max) | λ | bpp | PSNR dB |", "|---|---|---|---|"]  # fmt: skip
    for t, row in zip(T, evaluate(model, crops, lmbdas)):
        lines.append(f"| {t:.1f} | {row['lmbda']:.4g} | {row['bpp']:.3f} | {row['psnr']:.2f} |")
    hi_lmbda = model.config.lmbda_max
    lines += ["", f"FiLM at λ_max = {hi_lmbda:g} (what the file records), y refined ({STEPS} steps) for a loss at λ; "
              "real files, decoded:", "", "| steps | loss λ | bpp | PSNR dB |", "|---|---|---|---|"]  # fmt: skip
    runs = [(0, hi_lmbda)] + [(STEPS, lm) for lm in (hi_lmbda, *REFINE_LMBDAS)]
    lines += refined_rows(args.model, crops, runs)
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "beyond_range.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
