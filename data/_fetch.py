"""Shared parts of the data/download_*.py scripts: CLI, download, zip extraction, checks."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
TIMEOUT = 60
"""Seconds a connection may stay silent before its download fails."""


class DownloadError(Exception):
    """A download that failed; ``main`` adds the way out."""


def download(url: str, target: Path) -> None:
    """Fetch url into target with a progress line. Bytes arrive in target.part, renamed only when
    complete; a failed download keeps them, and the next call resumes after them (HTTP Range)
    where the server allows it, else starts again."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, have)
        resumed = response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            response.close()
            part.unlink()
            raise DownloadError(f"{url}: the server resumed at another offset than {have}; removed the partial file")
        done = have if resumed else 0
        length = int(response.headers.get("Content-Length") or 0)
        total = done + length if length else 0
        if resumed:
            print(f"{target.name}: resuming after {done / 1e6:.1f} MB")
        with response, open(part, "ab" if resumed else "wb") as f:
            while chunk := response.read(1 << 20):
                done += f.write(chunk)
                print(f"\r{target.name}: {done / 1e6:.1f}" + (f" / {total / 1e6:.1f}" if total else "") + " MB",
                      end="", flush=True)  # fmt: skip
        print()
        if done < total:
            raise DownloadError(f"{url}: the connection closed after {done} of {total} bytes")
        part.replace(target)
    except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts; IncompleteRead
        raise DownloadError(f"{url}: {e}") from e
    finally:
        if part.is_file() and part.stat().st_size == 0:
            part.unlink()


def _open(url: str, have: int):
    """``urlopen`` url, asking for the bytes after the first ``have`` (a 206 answer) if any; a
    server that finds nothing after them (416: the partial file is not a prefix of this one)
    is asked again for the whole file."""
    if not have:
        return urllib.request.urlopen(urllib.request.Request(url), timeout=TIMEOUT)
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers={"Range": f"bytes={have}-"}), timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code != 416:
            raise
        return urllib.request.urlopen(urllib.request.Request(url), timeout=TIMEOUT)


def extract(archive: Path, dest: Path, pattern: str) -> list[Path]:
    """Extract the zip members whose path matches pattern (fnmatch), flat into dest."""
    out = []
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            name = Path(info.filename).name
            if info.is_dir() or name.startswith(".") or not fnmatchcase(info.filename, pattern):
                continue
            with z.open(info) as src, open(dest / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(dest / name)
    return out


def check_images(folder: Path, count: int, size: tuple[int, int] | None = None) -> list[str]:
    """Problems with folder/*.png: count, decoding, RGB mode, size (empty: all good)."""
    files = sorted(folder.glob("*.png"))
    problems = [] if len(files) == count else [f"{len(files)} PNG images, expected {count}"]
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                mode, got = im.mode, im.size
        except (OSError, SyntaxError, ValueError) as e:  # what Pillow raises for broken files
            problems.append(f"{f.name} does not decode ({e})")
            continue
        if mode != "RGB":
            problems.append(f"{f.name} is {mode}, not RGB")
        if size and got != size:
            problems.append(f"{f.name} is {got[0]}x{got[1]}, not {size[0]}x{size[1]}")
    return problems


@dataclass(frozen=True)
class Dataset:
    """A test set shipped as one zip at url: count PNGs whose path matches pattern, all RGB (and size)."""

    what: str
    dest: Path
    url: str = ""
    pattern: str = "*.png"
    count: int = 0
    size: tuple[int, int] | None = None
    md5: str = ""
    """The archive's MD5 where one is known (checked before extraction), and who published it."""
    md5_source: str = ""

    def fetch(self, dest: Path) -> None:
        archive = dest / ".download.zip"
        if not archive.is_file():
            download(self.url, archive)
        self._check_archive(archive)
        try:
            n = len(extract(archive, dest, self.pattern))
        except zipfile.BadZipFile as e:
            archive.unlink()
            raise DownloadError(f"{self.url} gave no zip archive (a web page instead?; removed it): {e}") from e
        print(f"extracted {n} images into {dest}" + ("" if n == self.count else f"; kept {archive}"))
        if n == self.count:
            archive.unlink()

    def _check_archive(self, archive: Path) -> None:
        """Refuse (and remove) an archive whose MD5 is not the known one."""
        if not self.md5:
            return
        md5 = hashlib.md5()
        with archive.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                md5.update(chunk)
        got = md5.hexdigest()
        if got != self.md5:
            archive.unlink()
            raise DownloadError(f"{self.url} gave an archive with MD5 {got}, not {self.md5} ({self.md5_source}): "
                                "damaged in transit, or the server's file changed (removed it)")  # fmt: skip

    def check(self, folder: Path) -> list[str]:
        return check_images(folder, self.count, self.size)


def main(doc: str, sets: dict[str, Dataset], argv: list[str] | None = None) -> int:
    """CLI `[DEST] [--verify] [--set NAME]`: fetch unless --verify, check, print one line; exit status
    (a failed download: 1, with what to do on stderr)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dest", nargs="?", type=Path, help="destination folder (default: see above)")
    p.add_argument("--verify", action="store_true", help="only verify DEST (offline), download nothing")
    names = list(sets)
    if len(names) > 1:
        p.add_argument("--set", choices=names, default=names[0], help="which set (default: %(default)s)")
    args = p.parse_args(argv)
    ds = sets[getattr(args, "set", names[0])]
    dest = args.dest or ds.dest
    if not args.verify:
        dest.mkdir(parents=True, exist_ok=True)
        try:
            ds.fetch(dest)
        except DownloadError as e:
            again = " ".join([sys.argv[0], *(["--set", args.set] if len(names) > 1 else []), "--verify", str(dest)])
            print(f"download failed: {e}\nRun the same command again to resume it, or download it yourself "
                  f"(browser, curl), put the images flat in {dest} and run: python {again}", file=sys.stderr)  # fmt: skip
            return 1
    problems = ds.check(dest) if dest.is_dir() else ["no such folder"]
    print(f"{dest}: " + (f"{ds.what} verified" if not problems else "FAILED: " + "; ".join(problems)))
    return 1 if problems else 0
