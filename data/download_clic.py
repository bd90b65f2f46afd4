"""Fetch the CLIC 2020 validation set: professional (41 PNGs, the usual "CLIC") or mobile (61).

    python data/download_clic.py [DEST]                        # professional, default DEST data/clic
    python data/download_clic.py --set mobile [DEST]           # mobile, default DEST data/clic_mobile
    python data/download_clic.py [--set mobile] --verify DIR   # only check a folder (offline)

No official checksums exist. The professional zip is checked against the MD5 that DeepMind's C3
code (google-deepmind/c3_neural_compression, utils/data_loading.py) checks when it downloads it;
--verify checks the image count, decoding and RGB mode.
"""

from __future__ import annotations

import sys

import _fetch

URL = "https://data.vision.ee.ethz.ch/cvl/clic/{}_valid_2020.zip"  # each zip holds valid/*.png
C3 = "the sum DeepMind's C3 code checks"
SETS = {
    name: _fetch.Dataset(f"{n} CLIC {name} images", _fetch.HERE / folder, URL.format(name), count=n, md5=md5,
                         md5_source=C3 if md5 else "")  # fmt: skip
    for name, folder, n, md5 in [("professional", "clic", 41, "7111ee240435911db04dbc5f40d50272"),
                                 ("mobile", "clic_mobile", 61, "")]
}

if __name__ == "__main__":
    sys.exit(_fetch.main(__doc__, SETS))
