"""How fast our FiLM model learns against CompressAI's plain ScaleHyperprior(64, 128).

Both train at one fixed λ from the same seed on the same batches (yotocodec.data.StepBatches
over ../shared/data/train less the 8 held-out photos), loss λ·255²·MSE + bpp, Adam 5e-4 with a
300-step warm-up, gradients clipped to 1, the prior's quantiles on their own optimizer, float32,
one thread; every 500 steps: bpp and PSNR on the held-out photos' central 256² crops. Run from
the repository root, one model per call (results: benchmarks/results/learning_pace.md):

    python benchmarks/learning_pace.py ours|cai STEPS LAMBDA
"""
import math
import sys
import time

import torch
from compressai.models import ScaleHyperprior as CaiSH
from yotocodec.model import ScaleHyperprior, ModelConfig
from yotocodec.data import list_images, split_holdout, load_images, StepBatches, center_crop
torch.set_num_threads(1)
which, steps, lm = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
torch.manual_seed(0)
if which == "ours":
    m = ScaleHyperprior(ModelConfig(64, 128, lm, lm))
    fwd = lambda x: m(x, torch.full((x.shape[0],), lm))
else:
    m = CaiSH(64, 128)
    fwd = lambda x: m(x)
train, val = split_holdout(list_images("../shared/data/train"), 8)
images = load_images(train, 128, False)
vals = [center_crop(im, 256) for im in load_images(val, 256, False)]
batches = StepBatches(images, 128, 8, (lm, lm), 0)
main = [p for n, p in m.named_parameters() if not n.endswith(".quantiles")]
opt = torch.optim.Adam(main, lr=5e-4)
aux = torch.optim.Adam([m.entropy_bottleneck.quantiles], lr=1e-3)
def loss_of(out, x):
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = sum(-torch.log2(l).sum() for l in out["likelihoods"].values()) / n
    mse = torch.mean((out["x_hat"].float() - x) ** 2)
    return lm * 255**2 * mse + bpp, bpp, mse
@torch.no_grad()
def validate():
    m.eval(); b = d = 0
    for im in vals:
        x = im[None].float() / 255
        _, bpp, mse = loss_of(fwd(x), x); b += float(bpp) / len(vals); d += float(mse) / len(vals)
    m.train(); return b, 10 * math.log10(1 / d)
t0 = time.time()
for s in range(steps):
    for g in opt.param_groups: g["lr"] = 5e-4 * min(1, (s + 1) / 300)
    crops, _ = batches[s]
    x = crops.float() / 255
    loss, bpp, mse = loss_of(fwd(x), x)
    opt.zero_grad(); aux.zero_grad()
    (loss + m.entropy_bottleneck.loss()).backward()
    torch.nn.utils.clip_grad_norm_(main, 1.0)
    opt.step(); aux.step()
    if (s + 1) % 500 == 0:
        print(which, s + 1, "val bpp %.3f psnr %.2f" % validate(), "%.0fs" % (time.time() - t0), flush=True)
