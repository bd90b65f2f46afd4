"""yotocodec: one learned image codec, any rate–distortion trade-off λ chosen at run time.

    >>> import yotocodec
    >>> data = yotocodec.encode(image, lmbda=0.01)   # PIL image or uint8 (H, W, 3) array
    >>> data = yotocodec.encode(image, size="40KB")  # or quality=, bpp=, psnr=: one model, any target
    >>> image = yotocodec.decode(data)               # PIL image; λ is read from the bytes
"""

import importlib

from . import pillow  # noqa: F401  (registers .yoto with Pillow)
from .bitstream import BitstreamError, YotoError, inspect
from .lmbda import LMBDA_MAX, LMBDA_MIN

_LAZY = {"encode": "ratecontrol", "TargetError": "ratecontrol", "TargetWarning": "ratecontrol",
         "decode": "codec", "load": "codec"}  # fmt: skip
"""Imported on first use: the codec needs torch, whose import takes seconds (``yoto --help``)."""

__all__ = ["encode", "decode", "inspect", "load", "BitstreamError", "YotoError", "TargetError", "TargetWarning", "LMBDA_MIN", "LMBDA_MAX"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'yotocodec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
