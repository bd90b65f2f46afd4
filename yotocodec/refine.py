"""Encoder-side refinement: one image's latents y optimised for its own rate–distortion loss.

g_a is amortised: one network maps every image to its y, and for a given image a better y
usually exists (Campos et al. 2019; Yang et al. 2020, "Improving inference for neural image
compression"). Starting from g_a's y, ``refine`` takes ``steps`` Adam steps on this image's
λ·255²·MSE + bpp with y rounded by stochastic Gumbel annealing (SGA, Yang et al.): each
element is drawn softly towards its floor or ceiling, the nearer more likely, at a
temperature that falls over the run so that the soft values end close to hard rounding; g_s
and the rate both see the soft values (z keeps the training proxy, additive noise). Every
``CHECK_EVERY`` steps and at the end, the loss of the *coded* latents (rounded, the decoder's
image) is measured in float32, and the best y kept: never worse than g_a's. The gradient
steps run under bf16 autocast where the CPU has native bf16 (1.8× faster per step here).

Only the encoder changes: the decoder, the bitstream and the model are the same, and
``pack`` codes the refined y exactly as it codes g_a's. A step runs h_a, h_s and g_s forward
and backward on the whole image, g_s in the decoder's form (``inference.fold``: FiLM folded
into the convolutions, channels-last; a step 2.2× faster than with the training form's g_s
on this project's CPU, ``benchmarks/results/refine_speed.md``); the random draws are
seeded, so an encode is repeatable.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from . import inference
from .codec import Analysis, to_tensor
from .losses import bits_per_pixel
from .model import bf16_native

LR = 0.02
"""Adam's step size on y (latent units; a quantization bin is 1)."""
TAU_MAX, TAU_DECAY = 0.5, 2.0
"""SGA temperature at step s of n: min(TAU_MAX, exp(−TAU_DECAY·s/n))."""
CHECK_EVERY = 10
MAX_PIXELS = 8_000_000
"""Largest image refined: the backward pass through g_s holds its activations at full size
(``yoto encode --refine`` peaks at 2.0 GB for a 1 MP image, 4.8 GB for 4 MP and 8.5 GB for
8 MP with the shipped N=M=192 weights on an Intel Xeon; 1.8, 4.4 and 7.1 GB at N=128/M=192 on
an AMD EPYC, whose oneDNN kernels hold other workspaces)."""
_EPS = 1e-5
_DRAWS = threading.Lock()
"""Refinements in concurrent threads take turns, so each draws its own seeded sequence and
an encode gives the same bytes in a thread pool as alone."""


def soft_round(y: Tensor, tau: float) -> Tensor:
    """SGA: y moved to between its floor and ceiling by a Gumbel-softmax draw at temperature
    ``tau`` with logits −atanh(distance)/τ (the nearer integer the likelier)."""
    lower = torch.floor(y)
    frac = y - lower
    logits = -torch.atanh(torch.stack([frac, 1 - frac], -1).clamp(max=1 - _EPS)) / tau
    return lower + F.gumbel_softmax(logits, tau=tau)[..., 1]


def refine(analysis: Analysis, image: Image.Image | np.ndarray, steps: int, lr: float = LR,
           on_step: Callable[[int], None] | None = None, seed: int = 0, lmbda: float | None = None) -> Analysis:  # fmt: skip
    """``analysis`` (g_a's y of ``image``) with y optimised over ``steps`` steps; ``on_step(i)``
    is called after each (progress). The loss weighs distortion by ``lmbda``, by default the
    analysis's own λ; the transforms stay conditioned on, and the file records, that λ."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"refinement steps must be a whole number, got {steps!r}")
    if steps < 0:
        raise ValueError(f"refinement steps must be 0 or more, got {steps}")
    if analysis.height * analysis.width > MAX_PIXELS:
        raise ValueError(f"refining a {analysis.width}×{analysis.height} image needs too much memory "
                         f"(at most {MAX_PIXELS / 1e6:g} MP); encode it without refinement")  # fmt: skip
    if lmbda is not None and not (isinstance(lmbda, numbers.Real) and 0 < lmbda < math.inf):
        raise ValueError(f"the loss's λ must be a positive finite number, got {lmbda!r}")
    model, t = analysis.model, analysis.rate.t.clone()  # clone: out of inference mode
    lmbda = analysis.rate.lmbda if lmbda is None else float(lmbda)
    network = model.network  # the entropy models' training forms (soft y, noisy z)
    with torch.no_grad():
        g_s = inference.fold(model.g_s, t)
    x = to_tensor(image)
    height, width = x.shape[2:]

    def loss(y_in: Tensor, likelihoods: dict[str, Tensor]) -> Tensor:
        mse = torch.mean((g_s(y_in)[:, :, :height, :width] - x) ** 2)
        return lmbda * 255.0**2 * mse + bits_per_pixel(likelihoods, height * width)[0]

    fast = bf16_native(torch.device("cpu"))
    y = analysis.y.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    best, best_y = math.inf, analysis.y
    with _DRAWS, torch.random.fork_rng():  # the draws come from torch's one global generator
        torch.manual_seed(seed)
        for i in range(steps + 1):
            if i % CHECK_EVERY == 0 or i == steps:
                with torch.no_grad():
                    coded = float(loss(torch.round(y), network.likelihoods(y, t, noisy=False)))
                if coded < best:
                    best, best_y = coded, y.detach().clone()
            if i == steps:
                break
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
                y_soft = soft_round(y, min(TAU_MAX, math.exp(-TAU_DECAY * i / steps)))
                (y.grad,) = torch.autograd.grad(loss(y_soft, network.likelihoods(y, t, noisy=True, y_values=y_soft)), [y])
            opt.step()
            if on_step is not None:
                on_step(i + 1)
    return replace(analysis, y=best_y)
