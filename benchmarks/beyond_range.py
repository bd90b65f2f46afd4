"""What a model makes of λ beyond its trained range: FiLM's MLPs extrapolated, measured.

    python benchmarks/beyond_range.py [MODEL] [--images DIR]

``yoto encode`` refuses λ outside [λ_min, λ_max]. This shows why, and what a wider range would
have to be trained for: the held-out crops' mean bpp (the entropy models' estimate) and PSNR
(g_s of the rounded latents) at normalised log λ t from 0.6 to 2 (t = 1 is λ_max), with FiLM's
MLPs fed t as they are. Writes benchmarks/results/beyond_range.md.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from heldout_loss import crop_sets
from rd import ROOT
from synthesis_ceiling import TRAIN
from yotocodec.codec import DEFAULT_MODEL
from yotocodec.modelfile import load_model, model_id
from yotocodec.train import evaluate

T = (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0)


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
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "beyond_range.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
