"""Loss of model files at the validation λ, on crops training held out and on crops it saw.

    python benchmarks/heldout_loss.py MODEL [MODEL ...] [--images DIR] [--seen DIR]

Held out: the central 256² crops of the photos ``yoto train`` holds out of ``--images`` (its
default split: 8 photos; what OUT/val.jsonl reports). Seen, with ``--seen DIR``: central 256²
crops of every 6th photo of DIR's training split (e.g. ``.gpu/train``, the crops a device run
trained on). Each row is the loss λ·255²·MSE + bpp at the 5 validation λ, and its change
against the first model. A run whose gain on seen crops far exceeds its gain on held-out ones
is learning its training set rather than images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from synthesis_ceiling import TRAIN
from yotocodec.data import center_crop, list_images, load_images, split_holdout
from yotocodec.modelfile import load_model
from yotocodec.train import TrainConfig, evaluate, validation_lmbdas

SIDE = 256


def crop_sets(images: Path, seen: Path | None) -> dict[str, list[torch.Tensor]]:
    """The held-out crops of ``images`` and, if given, the seen crops of ``seen``."""
    n = TrainConfig.val_images
    sets = {"held-out": split_holdout(list_images(images), n)[1]}
    if seen is not None:
        sets["seen"] = split_holdout(list_images(seen), n)[0][::6]
    return {name: [center_crop(im, SIDE) for im in load_images(files, SIDE, False)] for name, files in sets.items()}


def losses(path: str, crops: list[torch.Tensor]) -> list[float]:
    """The model's loss on ``crops`` at the validation λ of its own range."""
    model = load_model(path).float().eval()
    cfg = TrainConfig(lmbda_min=model.config.lmbda_min, lmbda_max=model.config.lmbda_max)
    return [row["loss"] for row in evaluate(model, crops, validation_lmbdas(cfg))]


def table(rows: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: per crop set and model, the losses and their change against the first model."""
    lines = ["| crops | model | loss at the 5 validation λ | change vs the first |", "|---|---|---|---|"]
    first = next(iter(rows.values()))
    for name in first:
        for path, by_set in rows.items():
            row = by_set[name]
            change = " ".join(f"{100 * (b / a - 1):+.1f}%" for a, b in zip(first[name], row))
            lines.append(f"| {name} | {path} | {' '.join(f'{v:.4f}' for v in row)} | {change} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--images", type=Path, default=TRAIN, help="the training folder (never Kodak)")
    p.add_argument("--seen", type=Path, help="a folder a run trained on (its training split is used)")
    args = p.parse_args()
    sets = crop_sets(args.images, args.seen)
    rows = {path: {name: losses(path, crops) for name, crops in sets.items()} for path in args.models}
    print(table(rows))


if __name__ == "__main__":
    main()
