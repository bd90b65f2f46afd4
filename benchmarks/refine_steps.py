"""What encoder-side refinement buys per step: files of g_a's latents against refined ones.

On training photos (every 25th of ../shared/data/train, central 768×512 crops; never Kodak),
at three λ, each image is coded from g_a's y and after ``refine`` runs of several lengths;
every point is a real file, decoded. Reports the mean change of the coded loss
λ·255²·MSE + bpp, of bpp and of PSNR, and the seconds per step (one thread). Run from the
repository root (results: benchmarks/results/refine_steps.md):

    python benchmarks/refine_steps.py [--model M] [--steps 25 50 100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from yotocodec import codec, refine
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.metrics import coded_loss, psnr
from yotocodec.modelfile import model_id

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"
LMBDAS = (0.003, 0.02, 0.1)


def crops() -> dict[str, object]:
    out = {}
    for f in list_images(TRAIN)[::25]:
        im = read_image(f)
        cx, cy = im.width // 2, im.height // 2
        out[f.name] = im.crop((cx - 384, cy - 256, cx + 384, cy + 256))
    return out


def point(image, analysis: codec.Analysis) -> dict:
    """bpp, PSNR and coded loss of the file made from ``analysis``."""
    data = analysis.pack()
    bpp, db = 8 * len(data) / (image.width * image.height), psnr(image, codec.decode(data, analysis.model))
    return {"bpp": bpp, "psnr": db, "loss": coded_loss(analysis.rate.lmbda, bpp, db)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--steps", type=int, nargs="+", default=[25, 50, 100])
    args = p.parse_args()
    torch.set_num_threads(1)
    model = codec.load(args.model)
    images = crops()
    rows = {s: [] for s in args.steps}
    for name, image in images.items():
        for lmbda in LMBDAS:
            analysis = codec.analyse(image, lmbda, model)
            base = point(image, analysis)
            for s in args.steps:
                t0 = time.perf_counter()
                refined = refine.refine(analysis, image, s)
                seconds = (time.perf_counter() - t0) / s
                r = point(image, refined)
                rows[s].append({"lmbda": lmbda, "loss": r["loss"] / base["loss"] - 1, "bpp": r["bpp"] / base["bpp"] - 1,
                                "psnr": r["psnr"] - base["psnr"], "s_per_step": seconds})  # fmt: skip
                print(name, lmbda, s, {k: round(v, 4) for k, v in rows[s][-1].items()}, flush=True)
    lines = [f"Refinement on {len(images)} training photos (768×512 crops), model {model_id(model).hex()}, "
             f"one thread (`benchmarks/refine_steps.py`); change against g_a's own file at the same λ, mean over images:", "",
             "| steps | λ | coded loss | bpp | PSNR (dB) | s/step |", "|---|---|---|---|---|---|"]  # fmt: skip
    for s, rs in rows.items():
        for lmbda in LMBDAS:
            sel = [r for r in rs if r["lmbda"] == lmbda]
            mean = {k: float(np.mean([r[k] for r in sel])) for k in ("loss", "bpp", "psnr", "s_per_step")}
            lines.append(f"| {s} | {lmbda:g} | {100 * mean['loss']:+.1f} % | {100 * mean['bpp']:+.1f} % | "
                         f"{mean['psnr']:+.2f} | {mean['s_per_step']:.2f} |")  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "refine_steps.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
