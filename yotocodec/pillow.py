"""Pillow plugin, registered on ``import yotocodec``: ``Image.open("x.yoto")`` decodes with the
shipped model, and ``image.save("x.yoto", lmbda=0.01)`` (or ``quality=``, ``size=``,
``bpp=``, ``psnr=``; with ``strict=``, ``refine=``, ``model=`` as ``yotocodec.encode`` takes
them) encodes.
"""

from __future__ import annotations

from PIL import Image, ImageFile

from .bitstream import MAGIC


class YotoImageFile(ImageFile.ImageFile):
    """A ``.yoto`` file: size and mode from the header, pixels decoded on ``load()``."""

    format = "YOTO"
    format_description = "yotocodec learned image"

    def _open(self) -> None:
        from .bitstream import inspect

        self._data = self.fp.read()
        info = inspect(self._data)
        self._size, self._mode = (info.width, info.height), info.mode
        self.info["lmbda"] = info.lmbda
        self.tile = []

    def load(self):
        if self._data is not None:
            from .codec import decode

            self.im = decode(self._data).im
            self._data = None
            if self._exclusive_fp and self._close_exclusive_fp_after_loading:
                self.fp.close()  # as Pillow's own formats do: no open file left behind
            self.fp = None
        return Image.Image.load(self)


def _save(image: Image.Image, fp, filename) -> None:
    from .ratecontrol import OPTIONS, SETTINGS, encode

    settings = {k: image.encoderinfo[k] for k in SETTINGS + OPTIONS if k in image.encoderinfo}
    fp.write(encode(image, **settings))


Image.register_open(YotoImageFile.format, YotoImageFile, lambda prefix: prefix[: len(MAGIC)] == MAGIC)
Image.register_save(YotoImageFile.format, _save)
Image.register_extension(YotoImageFile.format, ".yoto")
