"""Fetch the Tecnick TESTIMAGES RGB 1200x1200 set (100 PNGs, as in the learned-compression papers).

    python data/download_tecnick.py [DEST]          # download (default: data/tecnick) and verify
    python data/download_tecnick.py --verify DIR    # only check an existing folder (offline)

The 511 MB archive is TESTIMAGES' OLD_SAMPLING release; only .../RGB_OR_1200x1200/*.png are
kept, flat in DEST. No official checksums exist: --verify checks count, decoding, RGB, 1200x1200.
"""

from __future__ import annotations

import sys

import _fetch

TECNICK = _fetch.Dataset(
    what="100 Tecnick RGB 1200x1200 images",
    dest=_fetch.HERE / "tecnick",
    url="https://sourceforge.net/projects/testimages/files/OLD/OLD_SAMPLING/testimages.zip/download",
    pattern="*RGB_OR_1200x1200/*.png",
    count=100,
    size=(1200, 1200),
)

if __name__ == "__main__":
    sys.exit(_fetch.main(__doc__, {"tecnick": TECNICK}))
