"""The data/ scripts, offline: the downloads' verification, zip extraction, fetch path and
errors; train_crops.py."""

from __future__ import annotations

import io
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data"))
import _fetch  # noqa: E402
import download_clic  # noqa: E402
import download_kodak  # noqa: E402
import download_tecnick  # noqa: E402
import train_crops  # noqa: E402

KODAK = ROOT.parent / "shared" / "data" / "kodak"
TINY = replace(download_tecnick.TECNICK, count=3, size=(8, 6))  # Tecnick's checks, a tiny fake set


def pngs(folder: Path, n: int, size: tuple[int, int] = (8, 6), mode: str = "RGB") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new(mode, size).save(folder / f"img{i:03d}.png")
    return folder


def noise_png() -> bytes:
    """An 8x6 PNG whose pixel data (IDAT) spans bytes ~40..200, so a cut at 80 truncates it."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (8, 6), bytes(range(144))[::-1]).save(buf, "PNG", compress_level=0)
    return buf.getvalue()


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, f"data/download_{name}.py", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def verify(folder: Path, ds: _fetch.Dataset = TINY) -> int:
    return _fetch.main("doc", {"x": ds}, ["--verify", str(folder)])


def test_verify_passes_on_a_correct_folder(tmp_path, capsys):
    assert verify(pngs(tmp_path / "t", 3)) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 't'}: 100 Tecnick RGB 1200x1200 images verified"


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda d: (d / "img000.png").unlink(), "2 PNG images, expected 3"),
        (lambda d: pngs(d, 4), "4 PNG images, expected 3"),
        (lambda d: (d / "img001.png").write_bytes(b"<html>not a png</html>"), "img001.png does not decode"),
        (lambda d: (d / "img001.png").write_bytes(noise_png()[:80]), "img001.png does not decode"),
        (lambda d: Image.new("RGB", (6, 8)).save(d / "img002.png"), "img002.png is 6x8, not 8x6"),
        (lambda d: Image.new("L", (8, 6)).save(d / "img000.png"), "img000.png is L, not RGB"),
        (lambda d: Image.new("RGBA", (8, 6)).save(d / "img000.png"), "img000.png is RGBA, not RGB"),
    ],
    ids=["missing", "extra", "garbage", "truncated", "size", "gray", "alpha"],
)
def test_verify_fails_with_a_message(tmp_path, capsys, spoil, message):
    folder = pngs(tmp_path / "t", 3)
    spoil(folder)
    assert verify(folder) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "FAILED" in out and message in out


def test_verify_of_a_missing_folder_fails(tmp_path, capsys):
    assert verify(tmp_path / "nope") == 1
    assert "no such folder" in capsys.readouterr().out


def tecnick_zip(path: Path) -> Path:
    """A small zip laid out like testimages.zip, with decoys beside the 3 wanted images."""
    img = pngs(path.parent / "src", 1).joinpath("img000.png").read_bytes()
    with zipfile.ZipFile(path, "w") as z:
        for i in range(3):
            z.writestr(f"TESTIMAGES/RGB/RGB_OR_1200x1200/RGB_OR_1200x1200_{i:03d}.png", img)
        z.writestr("TESTIMAGES/RGB/RGB_R02_0600x0600/RGB_R02_0600x0600_001.png", img)
        z.writestr("TESTIMAGES/GRAY/GRAY_OR_1200x1200/GRAY_OR_1200x1200_001.png", img)
        z.writestr("TESTIMAGES/RGB/RGB_OR_1200x1200/notes.txt", "x")
        z.writestr("__MACOSX/TESTIMAGES/RGB/RGB_OR_1200x1200/._RGB_OR_1200x1200_000.png", "x")
    return path


def test_extract_keeps_only_the_wanted_files_flat(tmp_path):
    archive, dest = tecnick_zip(tmp_path / "t.zip"), tmp_path / "out"
    dest.mkdir()
    got = _fetch.extract(archive, dest, download_tecnick.TECNICK.pattern)
    want = [f"RGB_OR_1200x1200_{i:03d}.png" for i in range(3)]
    assert sorted(p.name for p in got) == sorted(p.name for p in dest.iterdir()) == want


def test_clic_pattern_flattens_the_valid_folder(tmp_path):
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr("valid/a.png", b"x")
        z.writestr("valid/readme.txt", b"x")
    got = _fetch.extract(tmp_path / "c.zip", tmp_path, download_clic.SETS["mobile"].pattern)
    assert [p.name for p in got] == ["a.png"]


def test_fetch_downloads_extracts_verifies_and_cleans_up(tmp_path, monkeypatch, capsys):
    archive = tecnick_zip(tmp_path / "t.zip")
    seen = []

    def fake_urlretrieve(url, filename, hook):
        seen.append(url)
        hook(1, archive.stat().st_size, archive.stat().st_size)
        Path(filename).write_bytes(archive.read_bytes())

    monkeypatch.setattr(urllib.request, "urlretrieve", fake_urlretrieve)
    dest = tmp_path / "dest"
    assert _fetch.main("doc", {"x": TINY}, [str(dest)]) == 0
    assert seen == [download_tecnick.TECNICK.url]
    assert sorted(p.name for p in dest.iterdir()) == [f"RGB_OR_1200x1200_{i:03d}.png" for i in range(3)]
    assert "verified" in capsys.readouterr().out


def test_network_failure_names_the_url_and_the_way_out(tmp_path, monkeypatch):
    def offline(url, filename, hook):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(SystemExit) as e:
        _fetch.main("doc", download_clic.SETS, [str(tmp_path)])
    msg = str(e.value)
    assert download_clic.SETS["professional"].url in msg and "--verify" in msg and str(tmp_path) in msg
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_a_web_page_instead_of_the_zip_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlretrieve", lambda url, f, hook: Path(f).write_text("<html>"))
    with pytest.raises(SystemExit, match="not a zip archive"):
        _fetch.main("doc", {"x": TINY}, [str(tmp_path)])


def test_scripts_verify_entry_points(tmp_path):
    folder = pngs(tmp_path / "clic", 41, size=(20, 14))
    ok = script("clic", "--verify", folder)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{folder}: 41 CLIC professional images verified"
    mobile = script("clic", "--set", "mobile", "--verify", folder)
    assert mobile.returncode == 1 and "41 PNG images, expected 61" in mobile.stdout
    tecnick = script("tecnick", "--verify", folder)
    assert tecnick.returncode == 1 and "41 PNG images, expected 100" in tecnick.stdout
    assert "img000.png is 20x14, not 1200x1200" in tecnick.stdout


def test_kodak_verify_rejects_a_wrong_copy(tmp_path, capsys):
    folder = pngs(tmp_path / "k", 1)
    (folder / "img000.png").rename(folder / "kodim01.png")
    assert _fetch.main("doc", {"kodak": download_kodak.KODAK}, ["--verify", str(folder)]) == 1
    assert "24 bad: kodim01.png" in capsys.readouterr().out


@pytest.mark.skipif(not KODAK.is_dir(), reason=f"{KODAK} not present")
def test_kodak_verify_passes_on_the_shared_copy():
    r = script("kodak", "--verify", "../shared/data/kodak")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "../shared/data/kodak: all 24 Kodak images verified"


def noise_photos(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_train_crops_are_lossless_repeatable_crops_of_each_photo(tmp_path):
    src = noise_photos(tmp_path / "src", [(40, 30), (30, 50)])
    for dest in ("a", "b"):
        train_crops.write_crops(src, tmp_path / dest, side=24, seed=3)
    for name in ("p0", "p1"):
        crop = np.asarray(Image.open(tmp_path / "a" / f"{name}.webp"))
        assert crop.shape == (24, 24, 3)
        assert np.array_equal(crop, np.asarray(Image.open(tmp_path / "b" / f"{name}.webp")))
        photo = np.asarray(Image.open(src / f"{name}.png"))
        windows = np.lib.stride_tricks.sliding_window_view(photo, crop.shape)
        assert (windows == crop).all(axis=(-3, -2, -1)).any(), "the crop is not a window of its photo"


def test_train_crops_refuses_a_photo_smaller_than_the_side(tmp_path):
    src = noise_photos(tmp_path / "src", [(40, 30), (20, 50)])
    with pytest.raises(ValueError, match="smaller than --side 24"):
        train_crops.write_crops(src, tmp_path / "out", side=24, seed=0)
