"""Training images: decoded once into memory, random crops and flips on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted; raises if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"training folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


class CropSampler:
    """Holds every image as a uint8 (3, H, W) tensor; draws random crop batches in [0, 1]."""

    def __init__(self, files: list[Path], crop: int, progress: bool = True):
        self.crop = crop
        self.images = []
        for f in tqdm(files, desc="loading images", disable=not progress, leave=False):
            with Image.open(f) as im:
                a = np.asarray(im.convert("RGB"))
            if min(a.shape[:2]) < crop:
                raise ValueError(f"{f} is {a.shape[1]}x{a.shape[0]}, smaller than the {crop}px crop")
            self.images.append(torch.from_numpy(a.copy()).permute(2, 0, 1))

    def batch(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` random crops (with random horizontal/vertical flips) as float (n, 3, c, c)."""
        c = self.crop
        out = torch.empty(n, 3, c, c, dtype=torch.uint8)
        for i in range(n):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
            top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=generator))
            left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=generator))
            patch = img[:, top : top + c, left : left + c]
            flips = torch.randint(2, (2,), generator=generator).tolist()
            dims = [d for d, f in zip((2, 1), flips) if f]
            out[i] = patch.flip(dims) if dims else patch
        return out.float().div_(255.0)
