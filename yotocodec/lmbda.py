"""The trained range of the rate–distortion trade-off λ (loss = λ·255²·MSE + bpp).

Kept free of torch so that ``import yotocodec``, ``yoto --help`` and ``yoto info`` start in a
fraction of a second (``conditioning`` holds the normalisation and FiLM).
"""

LMBDA_MIN = 1.2e-3
"""Smallest trained rate–distortion trade-off (loss = λ·255²·MSE + bpp)."""
LMBDA_MAX = 2.6e-1
"""Largest trained rate–distortion trade-off."""
