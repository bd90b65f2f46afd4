"""Fetch the 24 Kodak images and verify them against data/kodak.sha256.

    python data/download_kodak.py [DEST]            # download (default: data/kodak) and verify
    python data/download_kodak.py --verify DIR      # only verify an existing folder (offline)

The checksums were computed from the copy the project benchmarks on; a mirror that
re-encodes the PNGs will fail verification (the pixels may still be right: compare them).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_URL = "https://r0k.us/graphics/kodak/kodak/"


def checksums() -> dict[str, str]:
    lines = (HERE / "kodak.sha256").read_text().split("\n")
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def verify(folder: Path) -> list[str]:
    """Names of missing or mismatching files (empty: all 24 verified)."""
    bad = []
    for name, digest in checksums().items():
        f = folder / name
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            bad.append(name)
    return bad


def download(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(checksums(), 1):
        if not (folder / name).is_file():
            print(f"[{i}/24] {name}", flush=True)
            urllib.request.urlretrieve(BASE_URL + name, folder / name)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dest", nargs="?", default=str(HERE / "kodak"))
    p.add_argument("--verify", action="store_true", help="only verify DEST, download nothing")
    args = p.parse_args()
    dest = Path(args.dest)
    if not args.verify:
        download(dest)
    bad = verify(dest)
    print(f"{dest}: " + ("all 24 Kodak images verified" if not bad else f"{len(bad)} bad: {', '.join(bad)}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
