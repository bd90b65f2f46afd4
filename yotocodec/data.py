"""Training images: decoded once into memory, random crops and flips on the fly.

Step ``s`` of a run always sees the same batch (crops, flips and λ drawn from a generator
seeded with (seed, rank, s)), whichever worker process makes it and whether or not the
run was resumed in between.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .conditioning import sample_lmbda
from .files import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted; raises if there are none."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: --data takes a folder of training images")
    if not folder.is_dir():
        raise FileNotFoundError(f"training folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def split_holdout(files: list[Path], n: int) -> tuple[list[Path], list[Path]]:
    """(training, validation) files: every k-th file is held out, ``n`` of them in all."""
    if n == 0:
        return files, []
    if not 0 < n < len(files):
        raise ValueError(f"cannot hold out {n} of {len(files)} images for validation (--val-images)")
    k = len(files) // n
    held = set(files[k - 1 :: k][:n])
    return [f for f in files if f not in held], [f for f in files if f in held]


def load_images(files: list[Path], min_side: int, progress: bool = True, option: str = "--crop") -> list[torch.Tensor]:
    """Decode ``files`` to uint8 (3, H, W) tensors as ``yoto encode`` reads its inputs (upright,
    8-bit; alpha and 16-bit refused); each must be at least ``min_side`` px (``option``)."""
    images = []
    for f in tqdm(files, desc="loading images", disable=not progress, leave=False):
        a = np.asarray(read_image(f).convert("RGB"))
        if min(a.shape[:2]) < min_side:
            raise ValueError(f"{f} is {a.shape[1]}x{a.shape[0]}, smaller than the {min_side}px crop ({option})")
        images.append(torch.from_numpy(a.copy()).permute(2, 0, 1))
    return images


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size``×``size`` window of a (3, H, W) tensor."""
    top, left = (image.shape[1] - size) // 2, (image.shape[2] - size) // 2
    return image[:, top : top + size, left : left + size]


def step_seed(*key: int) -> int:
    """A well-mixed 64-bit seed for a tuple of integers such as (seed, rank, step)."""
    return int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0])


class StepBatches(torch.utils.data.Dataset):
    """Item ``s`` is step s's batch: uint8 crops (B, 3, c, c) and one λ per crop (B,)."""

    def __init__(self, images: list[torch.Tensor], crop: int, batch_size: int,
                 lmbda_range: tuple[float, float], seed: int, rank: int = 0):  # fmt: skip
        self.images, self.crop, self.batch_size = images, crop, batch_size
        self.lmbda_range, self.seed, self.rank = lmbda_range, seed, rank

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(step_seed(self.seed, self.rank, step))
        return self._crops(g), sample_lmbda(self.batch_size, *self.lmbda_range, g)

    def _crops(self, g: torch.Generator) -> torch.Tensor:
        c = self.crop
        out = torch.empty(self.batch_size, 3, c, c, dtype=torch.uint8)
        for i in range(self.batch_size):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=g))
            left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=g))
            patch = img[:, top : top + c, left : left + c]
            dims = [d for d, f in zip((2, 1), torch.randint(2, (2,), generator=g).tolist()) if f]
            out[i] = patch.flip(dims) if dims else patch
        return out
