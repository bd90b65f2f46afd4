"""Write one random square crop of every training photo, losslessly: a small training set.

    python data/train_crops.py SRC DEST [--side 424] [--seed 0]

A GPU machine that can receive only tens of MB gets the whole variety of SRC this way (the
shipped model's GPU fine-tune used ``--side 424``: 149 crops, 36.5 MB). The crop positions
depend only on the sorted file list, the image sizes, ``--side`` and ``--seed``, so a run
repeats; each crop is saved as lossless WebP under its photo's name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from yotocodec.data import list_images  # noqa: E402
from yotocodec.files import read_image  # noqa: E402


def write_crops(src: Path, dest: Path, side: int, seed: int) -> tuple[int, int]:
    """Crop every image of ``src`` into ``dest``; returns (crops, bytes) written."""
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    files, total = list_images(src), 0
    for f in files:
        im = read_image(f).convert("RGB")  # as `yoto train` reads it: upright; alpha, 16-bit refused
        w, h = im.size
        if min(w, h) < side:
            raise ValueError(f"{f} is {w}×{h}, smaller than --side {side}")
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        out = dest / f"{f.stem}.webp"
        im.crop((x, y, x + side, y + side)).save(out, "WEBP", lossless=True, quality=100)
        total += out.stat().st_size
    return len(files), total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--side", type=int, default=424)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    try:
        n, total = write_crops(a.src, a.dest, a.side, a.seed)
    except (OSError, ValueError) as e:
        sys.exit(f"train_crops: {e}")
    print(f"{a.dest}: {n} crops of {a.side}², {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
