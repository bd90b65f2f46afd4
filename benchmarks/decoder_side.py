"""Could the decoder do better with the same transforms? Two decoder-side changes, measured.

    python benchmarks/decoder_side.py [--model MODEL]

Both use what the decoder already has, each y element's scale index, and would cost no bits:

- **bin-mean dequantization**: a y coded as the integer ŷ ≠ 0 lies, on average, nearer zero
  than ŷ (y's density falls away from zero), so the decoder could read ŷ + sign(ŷ)·δ, with δ
  looked up by scale index and |ŷ| (1, 2, 3 or more);
- **empirical tables**: y coded under the histogram of ŷ per scale index instead of the
  quantized Gaussian of that scale (shrunk towards it by ``PRIOR`` pseudo-counts).

Both are fitted on central 512² crops of every 6th photo of the training split of
../shared/data/train (never Kodak) at 7 λ over the range; δ is the mean of (y − ŷ)·sign(ŷ) per
cell seen at least 200 times (0 elsewhere). The report, on the 8 held-out photos' crops: the
PSNR of g_s(ŷ), g_s(ŷ + sign(ŷ)·δ) and g_s(y), and y's ideal code length (−Σ log₂ p, each p
at least 2⁻²⁴ as in the range coder) under both tables. Writes benchmarks/results/decoder_side.md.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from rd import ROOT
from synthesis_ceiling import TRAIN
from yotocodec import codec, entropy, inference
from yotocodec.data import center_crop, list_images, load_images, split_holdout
from yotocodec.metrics import psnr
from yotocodec.train import TrainConfig

SIDE, MIN_COUNT, MAGNITUDES, RANGE, PRIOR = 512, 200, 4, 64, 50
LMBDAS = (0.0012, 0.003, 0.008, 0.02, 0.05, 0.12, 0.26)


def cells(a: codec.Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per element of y: (y − ŷ)·sign(ŷ), its scale index, min(|ŷ|, 3) and ŷ + R (clipped to [0, 2R])."""
    y = a.y.flatten().double().numpy()
    y_hat = np.round(y)
    k = np.minimum(np.abs(y_hat), MAGNITUDES - 1).astype(int)
    return (y - y_hat) * np.sign(y_hat), a.side[1].astype(int), k, np.clip(y_hat, -RANGE, RANGE).astype(int) + RANGE


def gaussian_tables(model: codec.CodecModel) -> np.ndarray:
    """The codec's quantized Gaussian of every scale over −R…R (tails in the end bins)."""
    return entropy.gaussian_pmfs(model.scales(), RANGE)


def fit(crops: list[np.ndarray], model: codec.CodecModel, min_count: int = MIN_COUNT) -> tuple[np.ndarray, np.ndarray]:
    """δ per (scale index, min(|ŷ|, 3)), the mean of (y − ŷ)·sign(ŷ) over ``crops`` at ``LMBDAS``
    where seen ``min_count`` times or more (0 elsewhere, and for ŷ = 0); and the empirical
    table of every scale index (its histogram of ŷ plus ``PRIOR`` Gaussian pseudo-counts)."""
    gaussian = gaussian_tables(model)
    total, count = np.zeros((len(gaussian), MAGNITUDES)), np.zeros((len(gaussian), MAGNITUDES))
    histogram = np.zeros_like(gaussian)
    for x in tqdm(crops, desc="fit"):
        for lmbda in LMBDAS:
            r, index, k, symbol = cells(codec.analyse(x, lmbda, model))
            np.add.at(total, (index, k), r)
            np.add.at(count, (index, k), 1)
            np.add.at(histogram, (index, symbol), 1)
    delta = np.where(count >= min_count, total / np.maximum(count, 1), 0.0)
    delta[:, 0] = 0.0
    tables = (histogram + PRIOR * gaussian) / (histogram.sum(1, keepdims=True) + PRIOR)
    return delta, tables


def synthesis(a: codec.Analysis, y_hat: torch.Tensor) -> np.ndarray:
    """g_s's 8-bit image of ``y_hat`` at ``a``'s λ (one tile: the crops are small)."""
    with torch.inference_mode():
        return inference.synthesis(a.transforms.g_s, y_hat, a.height, a.width, max(y_hat.shape[2:]))


def bits(tables: np.ndarray, index: np.ndarray, symbol: np.ndarray) -> float:
    """Ideal code length of ``symbol`` under the rows ``index`` of ``tables``."""
    return float(-np.log2(np.maximum(tables[index, symbol], 2.0**-24)).sum())


def evaluate(crops: list[np.ndarray], model: codec.CodecModel, delta: np.ndarray, tables: np.ndarray) -> dict[float, np.ndarray]:
    """Per λ, over ``crops``: the mean PSNR of g_s(ŷ), g_s(ŷ + sign(ŷ)·δ) and g_s(y), and the
    summed bits of y under the Gaussian and under ``tables``."""
    gaussian = gaussian_tables(model)
    rows = {lmbda: [] for lmbda in LMBDAS}
    for x in tqdm(crops, desc="evaluate"):
        for lmbda in LMBDAS:
            a = codec.analyse(x, lmbda, model)
            _, index, k, symbol = cells(a)
            y_hat = torch.round(a.y)
            shift = torch.from_numpy(delta[index, k]).float().reshape(y_hat.shape)
            quality = [psnr(x, synthesis(a, y)) for y in (y_hat, y_hat + torch.sign(y_hat) * shift, a.y)]
            rows[lmbda].append(quality + [bits(gaussian, index, symbol), bits(tables, index, symbol)])
    return {lmbda: np.r_[np.mean(r, axis=0)[:3], np.sum(r, axis=0)[3:]] for lmbda, r in rows.items()}


def report(model_id: str, held: int, result: dict[float, np.ndarray], delta: np.ndarray) -> str:
    """Markdown: the two tables of the report."""
    lines = [f"Model {model_id}: the central {SIDE}² crops of the {held} held-out training photos; "
             "δ and the empirical tables fitted on every 6th training photo.", "",
             "PSNR (dB) of g_s's image of three inputs (mean):", "",
             "| λ | g_s(ŷ) (coded) | g_s(ŷ + sign(ŷ)·δ) | change | g_s(y) (unrounded) | change |", "|---|---|---|---|---|---|"]  # fmt: skip
    for lmbda, (coded, shifted, unrounded, _, _) in result.items():
        lines.append(f"| {lmbda:g} | {coded:.3f} | {shifted:.3f} | {shifted - coded:+.3f} | {unrounded:.3f} | {unrounded - coded:+.3f} |")
    used = delta[:, 1:][delta[:, 1:] != 0]
    lines += ["", f"δ over the cells fitted (|ŷ| ≥ 1): {used.min():+.3f} … {used.max():+.3f}, median {np.median(used):+.3f}.", "",
              "y's ideal code length (kbit, summed), under the codec's Gaussian and the empirical tables:", "",
              "| λ | Gaussian | empirical | change |", "|---|---|---|---|"]  # fmt: skip
    for lmbda, (*_, gaussian, empirical) in result.items():
        lines.append(f"| {lmbda:g} | {gaussian / 1e3:.1f} | {empirical / 1e3:.1f} | {100 * (empirical / gaussian - 1):+.2f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped model)")
    args = p.parse_args()
    model = codec.load(args.model)
    train, held = split_holdout(list_images(TRAIN), TrainConfig.val_images)
    as_arrays = lambda files: [center_crop(im, SIDE).permute(1, 2, 0).numpy() for im in load_images(files, SIDE, False)]  # noqa: E731
    delta, tables = fit(as_arrays(train[::6]), model)
    text = report(model.id.hex(), len(held), evaluate(as_arrays(held), model, delta, tables), delta)
    (ROOT / "benchmarks" / "results" / "decoder_side.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
