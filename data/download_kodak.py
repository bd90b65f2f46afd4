"""Fetch the 24 Kodak images and verify them against data/kodak.sha256.

    python data/download_kodak.py [DEST]            # download (default: data/kodak) and verify
    python data/download_kodak.py --verify DIR      # only verify an existing folder (offline)

The checksums were computed from the copy the project benchmarks on; a mirror that
re-encodes the PNGs will fail verification (the pixels may still be right: compare them).
A second run downloads again the images that are missing or do not match.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import _fetch

BASE_URL = "https://r0k.us/graphics/kodak/kodak/"


def checksums() -> dict[str, str]:
    lines = (_fetch.HERE / "kodak.sha256").read_text().split("\n")
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def intact(path: Path, digest: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest


class Kodak(_fetch.Dataset):
    """Kodak is 24 separate files checked by SHA-256, not a zip."""

    def fetch(self, dest: Path) -> None:
        """Download every image that is missing or does not match its checksum."""
        for name, digest in checksums().items():
            if not intact(dest / name, digest):
                _fetch.download(BASE_URL + name, dest / name)

    def check(self, folder: Path) -> list[str]:
        """One problem naming the missing or mismatching files (empty: all 24 verified)."""
        bad = [name for name, digest in checksums().items() if not intact(folder / name, digest)]
        return [f"{len(bad)} missing or not matching kodak.sha256: {', '.join(bad)}"] if bad else []


KODAK = Kodak("all 24 Kodak images", _fetch.HERE / "kodak")

if __name__ == "__main__":
    sys.exit(_fetch.main(__doc__, {"kodak": KODAK}))
