"""Reading inputs: every common format, EXIF orientation, grayscale kept, alpha/16-bit/animations refused."""

import errno
import os
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import yotocodec
from yotocodec.files import atomic_write, image_format, read_image, save_image, write_bytes

from conftest import SAMPLE, random_image


@pytest.fixture
def rgb(rng) -> Image.Image:
    return Image.fromarray(random_image(rng, 24, 40))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif", ".bmp"])
def test_common_formats_read_as_rgb(tmp_path, rgb, suffix):
    rgb.save(tmp_path / f"x{suffix}")
    im = read_image(tmp_path / f"x{suffix}")
    assert (im.mode, im.size) == ("RGB", (40, 24))
    if suffix in (".png", ".tif", ".bmp"):
        assert np.array_equal(np.asarray(im), np.asarray(rgb))


def test_exif_orientation_is_applied(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    rgb.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").size == (24, 40)


def test_grayscale_and_palette_files_read_as_l_and_rgb(tmp_path, rgb):
    rgb.convert("L").save(tmp_path / "g.png")
    rgb.convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "g.png").mode == "L" and read_image(tmp_path / "p.png").mode == "RGB"


@pytest.mark.parametrize("mode, match", [("RGBA", "alpha"), ("LA", "alpha"), ("I;16", "8 bits")])
def test_alpha_and_16_bit_files_are_refused_with_the_reason(tmp_path, rgb, mode, match):
    rgb.convert(mode if mode != "I;16" else "L").convert(mode).save(tmp_path / "x.png")
    with pytest.raises(ValueError, match=match):
        read_image(tmp_path / "x.png")


def _png48(path: Path, rgb: Image.Image) -> None:
    """``rgb`` written as a 16-bit-per-channel PNG (Pillow cannot write one)."""
    a = np.asarray(rgb).astype(">u2") * 257
    raw = b"".join(b"\0" + row.tobytes() for row in a)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", rgb.width, rgb.height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_rgb_files_are_refused_not_cut_to_8_bits(tmp_path, rgb):
    _png48(tmp_path / "x.png", rgb)
    with Image.open(tmp_path / "x.png") as im:
        assert im.mode == "RGB"  # what Pillow makes of it: 8 bits, silently
        with pytest.raises(ValueError, match="16 bits per channel"):
            yotocodec.encode(im, lmbda=0.01)
    with pytest.raises(ValueError, match="x.png: RGB images of 16 bits per channel"):
        read_image(tmp_path / "x.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_that_cannot_be_parsed_counts_as_upright(tmp_path, rgb, suffix):
    rgb.save(tmp_path / f"x{suffix}", exif=b"Exif\0\0garbage!garbage")
    image = read_image(tmp_path / f"x{suffix}")  # as `yoto encode` reads it, EXIF kept in its info
    with Image.open(tmp_path / f"x{suffix}") as im:
        for source in (image, im):
            assert yotocodec.decode(yotocodec.encode(source, lmbda=0.01)).size == (40, 24)


def _swapped_profile() -> bytes:
    """sRGB's ICC profile with its red and blue primaries swapped (and renamed): a colour
    space where (255, 0, 0) is sRGB's blue."""
    b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    tags = {bytes(b[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(struct.unpack(">I", b[128:132])[0])}
    r, blue = tags[b"rXYZ"], tags[b"bXYZ"]
    b[r + 4 : r + 12], b[blue + 4 : blue + 12] = b[blue + 4 : blue + 12], b[r + 4 : r + 12]
    at = b.find("sRGB".encode("utf-16-be"))
    b[at : at + 8] = "Swap".encode("utf-16-be")
    return bytes(b)


def test_a_colour_profile_other_than_srgb_is_converted_to_srgb_and_srgb_kept_exact(tmp_path, rgb):
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    red.save(tmp_path / "swapped.png", icc_profile=_swapped_profile())
    rgb.save(tmp_path / "srgb.png", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert read_image(tmp_path / "swapped.png").getpixel((0, 0)) == (0, 0, 255)
    with Image.open(tmp_path / "swapped.png") as im:
        assert yotocodec.encode(im, lmbda=0.01) == yotocodec.encode(Image.new("RGB", (8, 8), (0, 0, 255)), lmbda=0.01)
    assert np.array_equal(np.asarray(read_image(tmp_path / "srgb.png")), np.asarray(rgb))


def test_a_psnr_target_on_a_profiled_pil_image_is_judged_on_the_srgb_pixels_coded(tmp_path):
    photo = Image.open(SAMPLE).convert("RGB").crop((300, 200, 396, 264))
    photo.save(tmp_path / "swapped.png", icc_profile=_swapped_profile())
    with Image.open(tmp_path / "swapped.png") as im:
        profiled = yotocodec.encode(im, psnr=37.0)
    assert profiled == yotocodec.encode(read_image(tmp_path / "swapped.png"), psnr=37.0)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png", ".tif"])
def test_animations_and_multi_page_files_are_refused_not_cut_to_their_first_frame(tmp_path, rgb, suffix):
    rgb.save(tmp_path / f"a{suffix}", save_all=True, append_images=[rgb.rotate(180)])
    with pytest.raises(ValueError, match="2 frames"):
        read_image(tmp_path / f"a{suffix}")
    with Image.open(tmp_path / f"a{suffix}") as im, pytest.raises(ValueError, match="2 frames"):
        yotocodec.encode(im, lmbda=0.01)


def test_a_cameras_multi_picture_jpeg_reads_as_its_first_image(tmp_path, rgb):
    rgb.save(tmp_path / "m.jpg", format="MPO", save_all=True, append_images=[rgb.resize((8, 5))])
    with Image.open(tmp_path / "m.jpg") as im:
        assert (im.format, im.n_frames) == ("MPO", 2)
    assert read_image(tmp_path / "m.jpg").size == (40, 24)


@pytest.mark.parametrize("name, fmt", [("png", "PNG"), (".jpg", "JPEG"), ("JPG", "JPEG"), ("webp", "WEBP"), ("tif", "TIFF")])
def test_output_formats_are_named_by_suffix_or_format_name(name, fmt):
    assert image_format(name) == fmt


@pytest.mark.parametrize("name", ["psd", ".fits", "xyz", "yoto"])
def test_formats_pillow_cannot_write_are_refused_with_a_list_that_works(name):
    with pytest.raises(ValueError, match="use png, webp"):
        image_format(name)


def test_decoded_images_saved_as_webp_keep_their_exact_pixels(tmp_path, rgb):
    save_image(rgb, tmp_path / "x.webp")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.webp").convert("RGB")), np.asarray(rgb))


def test_training_images_are_read_like_inputs_and_refusals_name_the_file(tmp_path, rgb):
    from yotocodec.data import load_images

    rgb.convert("L").convert("I;16").save(tmp_path / "g16.png")  # PIL would clip it to white
    (tmp_path / "cut.png").write_bytes((tmp_path / "g16.png").read_bytes()[:60])
    for name, match in (("g16.png", "g16.png: I;16 images"), ("cut.png", "cut.png: ")):
        with pytest.raises(ValueError, match=match):
            load_images([tmp_path / name], 16, progress=False)


def test_a_failed_atomic_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    def write(tmp):
        Path(tmp).write_bytes(b"partial")
        raise OSError("disk full")

    old = tmp_path / "old.bin"
    old.write_bytes(b"old")
    for path in (tmp_path / "new.bin", old):
        with pytest.raises(OSError, match="disk full"):
            atomic_write(path, write)
    assert [p.name for p in tmp_path.iterdir()] == ["old.bin"] and old.read_bytes() == b"old"


def test_an_output_is_written_as_cp_writes_it_through_links_keeping_permissions_into_devices(tmp_path):
    real, link, private = tmp_path / "real.png", tmp_path / "link.png", tmp_path / "private.png"
    real.write_bytes(b"old")
    link.symlink_to(real.name)
    write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    private.write_bytes(b"old")
    private.chmod(0o600)
    write_bytes(private, b"new")
    assert private.stat().st_mode & 0o777 == 0o600 and private.read_bytes() == b"new"
    if os.geteuid() == 0:  # a null device of our own (root may replace /dev/null itself: never test on it)
        null = tmp_path / "null"
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        write_bytes(null, b"into the device")
        assert stat.S_ISCHR(null.stat().st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_bytes(fifo, b"through the pipe")
    assert reader.communicate(timeout=60)[0] == b"through the pipe" and stat.S_ISFIFO(fifo.stat().st_mode)


def test_an_atomic_write_takes_any_name_the_file_system_does_and_its_errors_name_the_output(tmp_path):
    longest = tmp_path / ("n" * 251 + ".png")  # 255 bytes: the temporary file beside it must be shorter
    write_bytes(longest, b"x")
    assert longest.read_bytes() == b"x"
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="a.png/x.png: part of its folder path is a file"):
        write_bytes(tmp_path / "a.png" / "x.png", b"x")
    def full(tmp):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)

    with pytest.raises(OSError, match=f"No space left on device: '{tmp_path / 'out.png'}'"):
        atomic_write(tmp_path / "out.png", full)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", longest.name]


def test_a_write_that_must_not_overwrite_keeps_a_file_that_appeared_meanwhile(tmp_path):
    target = tmp_path / "a.yoto"

    def meanwhile(tmp):  # another run writes the same output while this one codes
        target.write_bytes(b"the other run's file")
        Path(tmp).write_bytes(b"this run's file")

    with pytest.raises(FileExistsError, match="appeared while it was being written"):
        atomic_write(target, meanwhile, overwrite=False)
    assert target.read_bytes() == b"the other run's file" and [p.name for p in tmp_path.iterdir()] == ["a.yoto"]
