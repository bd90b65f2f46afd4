"""Image quality metrics on 8-bit RGB images."""

from __future__ import annotations

import math

import numpy as np


def mse_to_psnr(mse: float, peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error, for signals with the given peak value."""
    return 10.0 * math.log10(peak**2 / max(mse, 1e-12))


def psnr(a, b) -> float:
    """PSNR (dB) between two 8-bit RGB images (PIL images or arrays), over all channels."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return mse_to_psnr(float(np.mean(d**2)), 255.0)


def coded_loss(lmbda: float, bpp: float, psnr_db: float) -> float:
    """The training loss λ·255²·MSE + bpp (MSE of [0, 1] pixels) of a coded image, from its PSNR."""
    return lmbda * 255**2 * 10 ** (-psnr_db / 10) + bpp
