"""yotocodec: one learned image codec, any rate–distortion trade-off λ chosen at run time.

    >>> import yotocodec
    >>> data = yotocodec.encode(image, lmbda=0.01)   # PIL image or uint8 (H, W, 3) array
    >>> data = yotocodec.encode(image, size="40KB")  # or quality=, bpp=, psnr=: one model, any target
    >>> image = yotocodec.decode(data)               # PIL image; λ is read from the bytes
"""

import warnings

with warnings.catch_warnings():  # compressai scripts modules at import with a deprecated API
    warnings.simplefilter("ignore", FutureWarning)
    import compressai  # noqa: F401

from . import pillow  # noqa: F401  (registers .yoto with Pillow)
from .bitstream import BitstreamError, YotoError
from .codec import decode, inspect, load
from .conditioning import LMBDA_MAX, LMBDA_MIN
from .ratecontrol import TargetError, TargetWarning, encode

__all__ = ["encode", "decode", "inspect", "load", "BitstreamError", "YotoError", "TargetError", "TargetWarning", "LMBDA_MIN", "LMBDA_MAX"]
__version__ = "0.1.0"
