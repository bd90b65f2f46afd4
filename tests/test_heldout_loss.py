"""benchmarks/heldout_loss.py: the crops it scores and the changes it reports."""

import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
heldout_loss = pytest.importorskip("heldout_loss")


def test_held_out_crops_are_the_trainers_and_seen_ones_come_from_its_training_split(tmp_path):
    for i in range(16):  # photo i is flat grey level i: a crop tells which photo it came from
        Image.fromarray(np.full((260, 300, 3), i, np.uint8)).save(tmp_path / f"p{i:02d}.png")
    sets = heldout_loss.crop_sets(tmp_path, tmp_path)
    held = [int(c[0, 0, 0]) for c in sets["held-out"]]
    seen = [int(c[0, 0, 0]) for c in sets["seen"]]
    assert held == [1, 3, 5, 7, 9, 11, 13, 15]  # yoto train's split of 16 files: every 2nd held out
    assert seen == [0, 12] and all(c.shape == (3, 256, 256) for c in sets["held-out"] + sets["seen"])


def test_the_table_gives_each_models_change_against_the_first():
    text = heldout_loss.table({"a.pt": {"held-out": [1.0, 2.0]}, "b.pt": {"held-out": [0.9, 2.2]}})
    assert "| held-out | a.pt | 1.0000 2.0000 | +0.0% +0.0% |" in text
    assert "| held-out | b.pt | 0.9000 2.2000 | -10.0% +10.0% |" in text
