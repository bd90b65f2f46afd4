"""How fast our FiLM model learns against CompressAI's plain ScaleHyperprior(64, 128).

Both train at one fixed λ from the same seed on the same batches (yotocodec.data.StepBatches
over ../shared/data/train less the 8 held-out photos), loss λ·255²·MSE + bpp, Adam 5e-4 with a
300-step warm-up, gradients clipped to 1, the prior's quantiles on their own optimizer, float32,
one thread; every 500 steps: bpp and PSNR on the held-out photos' central 256² crops. Run from
the repository root, one model per call (results: benchmarks/results/learning_pace.md):

    python benchmarks/learning_pace.py ours|cai STEPS LAMBDA
"""

from __future__ import annotations

import math
import sys
import time

import torch
from compressai.models import ScaleHyperprior as PlainScaleHyperprior

from yotocodec.data import StepBatches, center_crop, list_images, load_images, split_holdout
from yotocodec.losses import rd_loss
from yotocodec.model import ModelConfig, ScaleHyperprior

LR, WARMUP, AUX_LR, CLIP, EVERY = 5e-4, 300, 1e-3, 1.0, 500


def make(which: str, lmbda: float):
    """The model and its forward pass x -> {x_hat, likelihoods}."""
    if which == "ours":
        m = ScaleHyperprior(ModelConfig(64, 128, lmbda, lmbda))
        return m, lambda x: m(x, torch.full((x.shape[0],), lmbda))
    m = PlainScaleHyperprior(64, 128)
    return m, m


@torch.no_grad()
def validate(m, forward, crops: list[torch.Tensor], lmbda: float) -> tuple[float, float, float]:
    """Mean loss, bpp and PSNR (of the mean MSE) over the held-out crops."""
    m.eval()
    loss = bpp = mse = 0.0
    for im in crops:
        x = im[None].float() / 255
        out = rd_loss(forward(x), x, torch.tensor([lmbda]))
        loss, bpp, mse = (a + float(out[k]) / len(crops) for a, k in zip((loss, bpp, mse), ("loss", "bpp", "mse")))
    m.train()
    return loss, bpp, 10 * math.log10(1 / mse)


def main() -> None:
    which, steps, lmbda = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m, forward = make(which, lmbda)
    train, held = split_holdout(list_images("../shared/data/train"), 8)
    batches = StepBatches(load_images(train, 128, False), 128, 8, (lmbda, lmbda), 0)
    crops = [center_crop(im, 256) for im in load_images(held, 256, False)]
    params = [p for n, p in m.named_parameters() if not n.endswith(".quantiles")]
    opt = torch.optim.Adam(params, lr=LR)
    aux = torch.optim.Adam([m.entropy_bottleneck.quantiles], lr=AUX_LR)
    t0 = time.time()
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = LR * min(1, (s + 1) / WARMUP)
        x = batches[s][0].float() / 255
        loss = rd_loss(forward(x), x, torch.full((x.shape[0],), lmbda))["loss"]
        opt.zero_grad()
        aux.zero_grad()
        (loss + m.entropy_bottleneck.loss()).backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        aux.step()
        if (s + 1) % EVERY == 0:
            print(which, s + 1, "val loss %.3f bpp %.3f psnr %.2f" % validate(m, forward, crops, lmbda),
                  "%.0fs" % (time.time() - t0), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
