"""The data/ scripts, offline: the downloads' verification, zip extraction, fetch path and
errors; train_crops.py."""

from __future__ import annotations

import hashlib
import http.client
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
from PIL import Image, ImageOps

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


class Response(io.BytesIO):
    """What ``urlopen`` returns: a readable body with headers; ``fail`` raises after the body."""

    def __init__(self, body: bytes, length: int | None = None, fail: Exception | None = None, status: int = 200,
                 headers: dict[str, str] | None = None):  # fmt: skip
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body) if length is None else length)} | (headers or {})
        self.fail, self.status = fail, status

    def read(self, n: int = -1) -> bytes:
        chunk = super().read(n)
        if not chunk and self.fail:
            raise self.fail
        return chunk


def serve(monkeypatch, respond) -> list[str]:
    """Replace the network: ``urlopen(request)`` returns ``respond(url)`` (or, if it takes two
    arguments, ``respond(url, range_header)``); the URLs asked for."""
    seen = []

    def urlopen(request, timeout):
        assert timeout == _fetch.TIMEOUT  # a stalled connection fails instead of hanging
        seen.append(request.full_url)
        if respond.__code__.co_argcount == 2:
            return respond(request.full_url, request.get_header("Range"))
        return respond(request.full_url)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return seen


def test_fetch_downloads_extracts_verifies_and_cleans_up(tmp_path, monkeypatch, capsys):
    archive = tecnick_zip(tmp_path / "t.zip")
    seen = serve(monkeypatch, lambda url: Response(archive.read_bytes()))
    dest = tmp_path / "dest"
    assert _fetch.main("doc", {"x": TINY}, [str(dest)]) == 0
    assert seen == [download_tecnick.TECNICK.url]
    assert sorted(p.name for p in dest.iterdir()) == [f"RGB_OR_1200x1200_{i:03d}.png" for i in range(3)]
    assert "verified" in capsys.readouterr().out


def offline(url):
    raise urllib.error.URLError("no network")


@pytest.mark.parametrize(
    "respond, why",
    [
        (offline, "no network"),
        (lambda url: Response(b"PK" * 10, length=100), "after 20 of 100 bytes"),
        (lambda url: Response(b"PK" * 10, fail=http.client.IncompleteRead(b"PK")), "IncompleteRead"),
        (lambda url: Response(b"PK" * 10, fail=TimeoutError("timed out")), "timed out"),
    ],
    ids=["offline", "short", "cut-chunked", "stalled"],
)
def test_a_failed_download_names_the_url_and_the_ways_out_and_keeps_only_what_arrived(tmp_path, monkeypatch, capsys, respond, why):
    serve(monkeypatch, respond)
    assert _fetch.main("doc", download_clic.SETS, ["--set", "mobile", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert download_clic.SETS["mobile"].url in err and why in err
    assert "again to resume" in err and f"--set mobile --verify {tmp_path}" in err  # the set that was asked for
    arrived = [] if respond is offline else [(".download.zip.part", b"PK" * 10)]
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == arrived


BODY = bytes(range(256)) * 4


def test_a_second_run_resumes_a_cut_download_after_the_bytes_it_kept(tmp_path, monkeypatch):
    ranges = []

    def respond(url, range_header):
        ranges.append(range_header)
        if range_header is None:
            return Response(BODY[:300], length=len(BODY))
        start = int(range_header.removeprefix("bytes=").removesuffix("-"))
        return Response(BODY[start:], status=206, headers={"Content-Range": f"bytes {start}-1023/1024"})

    serve(monkeypatch, respond)
    with pytest.raises(_fetch.DownloadError, match="after 300 of 1024 bytes"):
        _fetch.download("https://x/f", tmp_path / "f")
    _fetch.download("https://x/f", tmp_path / "f")
    assert ranges == [None, "bytes=300-"]
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("f", BODY)]


def test_a_resumption_at_another_offset_is_refused_and_the_partial_file_dropped(tmp_path, monkeypatch):
    (tmp_path / "f.part").write_bytes(BODY[:300])
    serve(monkeypatch, lambda url, r: Response(BODY[200:], status=206, headers={"Content-Range": "bytes 200-1023/1024"}))
    with pytest.raises(_fetch.DownloadError, match="another offset than 300"):
        _fetch.download("https://x/f", tmp_path / "f")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("answer", [lambda url, r: Response(BODY), "416"], ids=["range-ignored", "range-refused"])
def test_a_server_that_cannot_resume_sends_the_whole_file_again(tmp_path, monkeypatch, answer):
    (tmp_path / "f.part").write_bytes(b"stale bytes")

    def respond(url, range_header):
        if answer == "416" and range_header:
            raise urllib.error.HTTPError(url, 416, "Range Not Satisfiable", {}, None)
        return Response(BODY) if answer == "416" else answer(url, range_header)

    serve(monkeypatch, respond)
    _fetch.download("https://x/f", tmp_path / "f")
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("f", BODY)]


def test_a_web_page_instead_of_the_zip_is_reported_and_removed(tmp_path, monkeypatch, capsys):
    seen = serve(monkeypatch, lambda url: Response(b"<html>"))
    for _ in range(2):  # the second run downloads again instead of reusing the page
        assert _fetch.main("doc", {"x": TINY}, [str(tmp_path)]) == 1
        assert "no zip archive" in capsys.readouterr().err
        assert list(tmp_path.iterdir()) == []
    assert len(seen) == 2


def test_an_archive_with_another_md5_than_the_known_one_is_refused_removed_and_not_extracted(tmp_path, monkeypatch,
                                                                                          capsys):
    archive = tecnick_zip(tmp_path / "t.zip").read_bytes()
    serve(monkeypatch, lambda url: Response(archive))
    good = replace(TINY, md5=hashlib.md5(archive).hexdigest(), md5_source="a test's sum")
    assert _fetch.main("doc", {"x": good}, [str(tmp_path / "good")]) == 0
    assert _fetch.main("doc", {"x": replace(good, md5="0" * 32)}, [str(tmp_path / "bad")]) == 1
    assert f"with MD5 {good.md5}, not {'0' * 32} (a test's sum)" in capsys.readouterr().err
    assert list((tmp_path / "bad").iterdir()) == []


def test_the_clic_professional_archive_has_a_known_md5_and_its_source():
    ds = download_clic.SETS["professional"]
    assert len(ds.md5) == 32 and "C3" in ds.md5_source


def test_kodak_downloads_the_missing_and_the_mismatching_images_only(tmp_path, monkeypatch):
    good, bad = b"image one", b"image two"
    sums = {name: hashlib.sha256(body).hexdigest() for name, body in [("a.png", good), ("b.png", bad), ("c.png", b"3")]}
    monkeypatch.setattr(download_kodak, "checksums", lambda: sums)
    (tmp_path / "a.png").write_bytes(good)
    (tmp_path / "b.png").write_bytes(b"<html>")
    seen = serve(monkeypatch, lambda url: Response(b"x"))
    download_kodak.KODAK.fetch(tmp_path)
    assert seen == [download_kodak.BASE_URL + "b.png", download_kodak.BASE_URL + "c.png"]


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
    assert "24 missing or not matching kodak.sha256: kodim01.png" in capsys.readouterr().out


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


def test_train_crops_reads_photos_as_training_does_upright_and_16_bit_refused(tmp_path):
    src = noise_photos(tmp_path / "src", [(40, 30)])
    photo = Image.open(src / "p0.png")
    exif = photo.getexif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90° to show
    photo.save(src / "p0.png", exif=exif)
    train_crops.write_crops(src, tmp_path / "out", side=24, seed=0)
    crop = np.asarray(Image.open(tmp_path / "out" / "p0.webp"))
    upright = np.asarray(ImageOps.exif_transpose(Image.open(src / "p0.png")))
    assert upright.shape[:2] == (40, 30)
    assert (np.lib.stride_tricks.sliding_window_view(upright, crop.shape) == crop).all(axis=(-3, -2, -1)).any()
    Image.fromarray(np.zeros((30, 40), dtype=np.uint16)).save(src / "p1.png")
    with pytest.raises(ValueError, match="p1.png"):
        train_crops.write_crops(src, tmp_path / "out2", side=24, seed=0)


def test_train_crops_refuses_a_photo_smaller_than_the_side(tmp_path):
    src = noise_photos(tmp_path / "src", [(40, 30), (20, 50)])
    with pytest.raises(ValueError, match="smaller than --side 24"):
        train_crops.write_crops(src, tmp_path / "out", side=24, seed=0)
