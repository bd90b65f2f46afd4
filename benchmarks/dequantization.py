"""Would the decoder gain by reconstructing ŷ off the integers? Bin-mean dequantization, measured.

    python benchmarks/dequantization.py [--model MODEL]

A latent y coded as the integer ŷ ≠ 0 lies, on average, nearer zero than ŷ (y's density falls
away from zero), so the mean of y over ŷ's bin is a better guess of y than ŷ itself, and the
decoder could use it: ŷ + sign(ŷ)·δ, with δ looked up by the element's scale index (which the
decoder has) and |ŷ| (1, 2, 3 or more), at no cost in bits. δ is fitted on central 512² crops
of every 6th photo of the training split of ../shared/data/train (never Kodak), as the mean of
(y − ŷ)·sign(ŷ) per cell seen at least 200 times (0 elsewhere), at 7 λ over the range; the
report is the PSNR of g_s(ŷ), g_s(ŷ + sign(ŷ)·δ) and g_s(y) on the 8 held-out photos' crops.
Writes benchmarks/results/dequantization.md.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from rd import ROOT
from synthesis_ceiling import TRAIN
from yotocodec import codec, inference
from yotocodec.data import center_crop, list_images, load_images, split_holdout
from yotocodec.metrics import psnr
from yotocodec.train import TrainConfig

SIDE, MIN_COUNT, MAGNITUDES = 512, 200, 4
LMBDAS = (0.0012, 0.003, 0.008, 0.02, 0.05, 0.12, 0.26)


def cells(a: codec.Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element of y: (y − ŷ)·sign(ŷ), its scale index and min(|ŷ|, 3)."""
    y = a.y.flatten().double().numpy()
    y_hat = np.round(y)
    return (y - y_hat) * np.sign(y_hat), a.side[1], np.minimum(np.abs(y_hat), MAGNITUDES - 1).astype(int)


def fit(crops: list[np.ndarray], model: codec.CodecModel, min_count: int = MIN_COUNT) -> np.ndarray:
    """δ per (scale index, min(|ŷ|, 3)): the mean of (y − ŷ)·sign(ŷ) over ``crops`` at ``LMBDAS``
    where seen ``min_count`` times or more (0 elsewhere, and for ŷ = 0)."""
    total = np.zeros((len(model.scales()), MAGNITUDES))
    count = np.zeros_like(total)
    for x in tqdm(crops, desc="fit"):
        for lmbda in LMBDAS:
            r, index, k = cells(codec.analyse(x, lmbda, model))
            np.add.at(total, (index, k), r)
            np.add.at(count, (index, k), 1)
    delta = np.where(count >= min_count, total / np.maximum(count, 1), 0.0)
    delta[:, 0] = 0.0
    return delta


def synthesis(a: codec.Analysis, y_hat: torch.Tensor) -> np.ndarray:
    """g_s's 8-bit image of ``y_hat`` at ``a``'s λ (one tile: the crops are small)."""
    with torch.inference_mode():
        return inference.synthesis(a.transforms.g_s, y_hat, a.height, a.width, max(y_hat.shape[2:]))


def evaluate(crops: list[np.ndarray], model: codec.CodecModel, delta: np.ndarray) -> dict[float, np.ndarray]:
    """Per λ, the mean PSNR of g_s(ŷ), g_s(ŷ + sign(ŷ)·δ) and g_s(y) over ``crops``."""
    rows = {lmbda: [] for lmbda in LMBDAS}
    for x in tqdm(crops, desc="evaluate"):
        for lmbda in LMBDAS:
            a = codec.analyse(x, lmbda, model)
            _, index, k = cells(a)
            y_hat = torch.round(a.y)
            shift = torch.from_numpy(delta[index, k]).float().reshape(y_hat.shape)
            rows[lmbda].append([psnr(x, synthesis(a, y)) for y in (y_hat, y_hat + torch.sign(y_hat) * shift, a.y)])
    return {lmbda: np.mean(r, axis=0) for lmbda, r in rows.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped model)")
    args = p.parse_args()
    model = codec.load(args.model)
    train, held = split_holdout(list_images(TRAIN), TrainConfig.val_images)
    as_arrays = lambda files: [center_crop(im, SIDE).permute(1, 2, 0).numpy() for im in load_images(files, SIDE, False)]  # noqa: E731
    delta = fit(as_arrays(train[::6]), model)
    result = evaluate(as_arrays(held), model, delta)
    lines = [f"Model {model.id.hex()}: PSNR (dB) of g_s's image of three inputs, mean over the central {SIDE}² crops "
             f"of the {len(held)} held-out training photos; δ fitted on every 6th training photo.", "",
             "| λ | g_s(ŷ) (coded) | g_s(ŷ + sign(ŷ)·δ) | change | g_s(y) (unrounded) | change |", "|---|---|---|---|---|---|"]  # fmt: skip
    for lmbda, (coded, shifted, unrounded) in result.items():
        lines.append(f"| {lmbda:g} | {coded:.3f} | {shifted:.3f} | {shifted - coded:+.3f} | {unrounded:.3f} | {unrounded - coded:+.3f} |")
    used = delta[:, 1:][delta[:, 1:] != 0]
    lines += ["", f"δ over the cells fitted (|ŷ| ≥ 1): {used.min():+.3f} … {used.max():+.3f}, median {np.median(used):+.3f}."]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "dequantization.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
