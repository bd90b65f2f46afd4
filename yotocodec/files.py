"""Files on disk: images read as 8-bit RGB, and atomic writes (complete file or none)."""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageCms, ImageOps


def as_rgb(image: Image.Image) -> Image.Image:
    """8-bit sRGB view of a PIL image; refuses alpha, >8-bit and multi-frame images rather
    than mangling them."""
    _check_still(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        raise ValueError(f"images with alpha are not supported (mode {image.mode}); flatten it first")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise ValueError(f"{image.mode} images (more than 8 bits) are not supported; convert to 8-bit RGB")
    image = _to_srgb(image)
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_srgb(image: Image.Image) -> Image.Image:
    """An RGB or CMYK image whose embedded colour profile is not sRGB (Display P3, Adobe RGB, a
    press CMYK) converted to sRGB, which is how the decoded file, carrying no profile, will be
    shown; an unreadable profile counts as none."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "CMYK"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image
        srgb = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    srgb.info.pop("icc_profile", None)
    return srgb


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation says (animations refused first: the turned
    copy would keep only frame 0); EXIF that cannot be parsed counts as upright, as in
    browsers."""
    _check_still(image)
    try:
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, struct.error, KeyError, IndexError):  # Pillow's EXIF/TIFF parser
        return image


_WIDE_RAWMODE = re.compile(r";16[BLN]?$")
"""Pillow's raw modes of 16 bits per channel ("RGB;16B" in a 48-bit PNG), which it reads into
8-bit modes; "BGR;15"/"BGR;16" are 15/16 bits per *pixel* (5-6-5 BMP) and stay allowed."""


def _check_still(image: Image.Image) -> None:
    """Refuse animations and multi-page files (coding frame 0 would drop the rest; a camera's
    MPO JPEG is its first image, the others being previews or depth maps) and, while the file
    is not yet loaded, 16-bit-per-channel sources that Pillow would cut to 8 bits."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":
        raise ValueError(f"{image.format} images with {frames} frames (animations, multi-page files) are "
                         "not supported; save the frame to code as a still image first")  # fmt: skip
    for tile in getattr(image, "tile", None) or ():
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and _WIDE_RAWMODE.search(rawmode) and not rawmode.startswith("BGR;"):
            raise ValueError(f"{image.mode} images of 16 bits per channel (more than 8 bits) are not supported; "
                             "convert to 8-bit RGB")  # fmt: skip


def source_mode(image: Image.Image) -> str:
    """The mode of ``image``'s decoded copy: "L" for a grayscale source, else "RGB"."""
    return "L" if image.mode in ("L", "1") else "RGB"


def as_coded(image: Image.Image) -> Image.Image:
    """``image`` as the codec codes it: upright, in sRGB, 8-bit RGB, or 8-bit L for a
    grayscale source (what rate control measures a decoded image against)."""
    image = upright(image)
    rgb = as_rgb(image)
    return rgb if source_mode(image) == "RGB" else image.convert("L")


def read_image(path: str | Path | io.BytesIO, name: str | None = None) -> Image.Image:
    """Open an image file (PNG, JPEG, WebP, TIFF, BMP, ...) upright (EXIF orientation
    applied), as 8-bit RGB, or 8-bit L when the file is grayscale; errors name it ``name``
    (default: ``path``)."""
    name = name or str(path)
    try:
        with Image.open(path) as im:
            _check_still(im)  # before loading: a 16-bit source is still visible in its tiles
            im.load()
            return as_coded(im)
    except Image.UnidentifiedImageError:
        raise ValueError(f"{name}: not a readable image (no format Pillow reads)") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"{name}: not a readable image ({e})") from None
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as e:  # refused modes, truncated or damaged files
        raise ValueError(f"{name}: {e}") from None


_writing: set[str] = set()
"""Temporary files being written now (``remove_unfinished`` deletes them)."""


def atomic_write(path: str | Path, write: Callable[[str], object], overwrite: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``, so
    that ``path`` is either complete or as it was. As ``cp`` writes: a symbolic link is written
    through (its target replaced), a replaced file keeps its permissions, and a device or FIFO
    (/dev/null, /dev/stdout, a named pipe) is written into, as no rename can replace it.
    ``overwrite=False`` refuses a ``path`` that exists by the time the file is complete.
    Errors name ``path``, not the temporary file."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        with _named(path):
            write(str(path))
        return
    path = path.resolve() if path.is_symlink() else path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"cannot write {path}: part of its folder path is a file") from None
    mode = (path.stat().st_mode & 0o777) if path.is_file() else 0o666 & ~_umask()
    tmp = ""
    try:
        with _named(path):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:48]}.", suffix=".tmp")  # ≤ 255 bytes
            os.close(fd)
            _writing.add(tmp)
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())  # on disk before it takes the name: a crash keeps the old file, not an empty one
            os.chmod(tmp, mode)
            _place(tmp, path, overwrite)
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _writing.discard(tmp)


def _place(tmp: str, path: Path, overwrite: bool) -> None:
    """Give the finished ``tmp`` the name ``path``; without ``overwrite`` only if still free."""
    if not overwrite:
        try:
            os.link(tmp, path)  # fails if path appeared meanwhile (another run)
        except FileExistsError:
            raise FileExistsError(f"{path} appeared while it was being written (another run?); not replaced") from None
        except OSError:
            pass  # no hard links on this file system (FAT, some network ones): an unguarded rename
        else:
            os.unlink(tmp)
            return
    os.replace(tmp, path)


@contextmanager
def _named(path: Path) -> Iterator[None]:
    """An OSError raised inside names ``path`` (not a temporary file; ``No space left on device``
    alone does not say where)."""
    try:
        yield
    except OSError as e:
        if e.errno is None or e.filename == str(path):
            raise
        raise type(e)(e.errno, e.strerror, str(path)) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_unfinished() -> None:
    """Delete the temporary files of writes in progress (a process about to be killed)."""
    for tmp in list(_writing):
        Path(tmp).unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), overwrite)


def image_format(name: str) -> str:
    """Pillow's save format for a file suffix or format name ("png", ".jpg", "WEBP", ...);
    refuses one Pillow cannot write."""
    key = name.lower() if name.startswith(".") else "." + name.lower()
    fmt = Image.registered_extensions().get(key, name.upper())
    if fmt not in Image.SAVE or fmt == "YOTO":
        raise ValueError(f"unknown image format {name!r} (or one Pillow cannot write); use png, webp, bmp, tif or jpg")
    return fmt


def format_suffix(name: str) -> str:
    """The output suffix for a format or suffix name: the name itself when it is one of the
    format's suffixes, else the format's first ("jpeg2000" → ".jp2")."""
    fmt, key = image_format(name), "." + name.lower().lstrip(".")
    suffixes = [s for s, f in Image.registered_extensions().items() if f == fmt]
    return key if key in suffixes else suffixes[0]


def check_writable(fmt: str, mode: str) -> None:
    """Refuse, before any decoding, a format in which Pillow cannot write ``mode`` images
    (XBM takes only 1-bit ones; GRIB and HDF5 need handlers installed)."""
    try:
        write_image(Image.new(mode, (1, 1)), io.BytesIO(), fmt)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"cannot write {mode} images as {fmt} ({e}); use png, webp, bmp, tif or jpg") from None


def encoded_image(image: Image.Image, fmt: str) -> bytes:
    """``image`` as the bytes of a ``fmt`` file, for streams that cannot seek (TIFF and PDF
    writers seek back)."""
    buffer = io.BytesIO()
    write_image(image, buffer, fmt)
    return buffer.getvalue()


def write_image(image: Image.Image, fp, fmt: str) -> None:
    """Save ``image`` to a path or file object in Pillow format ``fmt``; WebP lossless, so
    that the decoded pixels are written exactly (JPEG is lossy by nature)."""
    image.save(fp, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))


def save_image(image: Image.Image, path: str | Path, fmt: str | None = None, overwrite: bool = True) -> None:
    """Save an image atomically, in Pillow format ``fmt`` (default: the one the suffix of
    ``path`` names)."""
    fmt = fmt or image_format(Path(path).suffix or str(path))
    atomic_write(path, lambda tmp: write_image(image, tmp, fmt), overwrite)
