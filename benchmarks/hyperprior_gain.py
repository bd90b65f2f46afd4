"""What the hyperprior earns: y's bits under h_s's scales against a per-channel constant scale.

    python benchmarks/hyperprior_gain.py MODEL [MODEL ...] [--images 24]

For each Kodak image at λ_min, the geometric middle of the range and λ_max, it reports
(mean bpp over images) y's rate under the scales h_s derives from ẑ, y's rate under the
best single scale per channel of that image (of the codec's scale table: what a prior
without side information but adapted to the image would spend), ẑ's rate, the saving of
hyperprior over constant scales net of ẑ, and the share of h_a's hidden channels (after its
first and second ReLU) that are zero everywhere on the image (dead: they carry nothing to
ẑ). Rates are the entropy models' estimates for rounded latents, as in ``codec.reference``.
Writes benchmarks/results/hyperprior_gain.md.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from tqdm import tqdm

from rd import ROOT
from yotocodec.codec import to_tensor
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.modelfile import load_model, model_id

KODAK = ROOT.parent / "shared" / "data" / "kodak"


def bits(likelihoods: torch.Tensor) -> torch.Tensor:
    """Bits per channel, shape (C,)."""
    return -torch.log2(likelihoods).sum((0, 2, 3))


@torch.no_grad()
def rates(model, x: torch.Tensor, lmbda: float) -> dict[str, float]:
    """y under h_s, y under constant per-channel scales, z (bpp) and dead h_a channels for ``x``."""
    gc, pixels = model.gaussian_conditional, x.shape[2] * x.shape[3]
    t = model.condition(torch.tensor([lmbda]))
    y = model.g_a(x, t)
    y_hat = torch.round(y)
    hidden = [model.h_a[:3](torch.abs(y), t)]  # after h_a's first ReLU, then its second
    hidden.append(model.h_a[3:6](hidden[0], t))
    z_hat, z_likelihoods = model.entropy_bottleneck(model.h_a[6:](hidden[1], t), training=False)
    _, y_likelihoods = gc(y, model.h_s(z_hat, t), training=False)
    constant = torch.stack([bits(gc.likelihood_lower_bound(gc._likelihood(y_hat, torch.full_like(y_hat, s))))
                            for s in gc.scale_table.tolist()]).amin(0)  # fmt: skip
    return {"y": float(bits(y_likelihoods).sum()) / pixels, "y_constant": float(constant.sum()) / pixels,
            "z": float(bits(z_likelihoods).sum()) / pixels,
            "dead": float(np.mean([float((h.amax((0, 2, 3)) == 0).float().mean()) for h in hidden]))}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--images", type=int, default=24)
    args = p.parse_args()
    images = [to_tensor(read_image(f)) for f in list_images(KODAK)[: args.images]]
    lines = [f"The hyperprior's saving on Kodak ({len(images)} images; mean bpp): y under h_s's scales, y under "
             "the best constant scale per channel and image, ẑ; saving = 1 − (y + ẑ) / y_constant; dead = "
             "share of h_a's hidden channels that are zero everywhere.", "",
             "| model | λ | y | y, constant scales | ẑ | saving | dead h_a channels |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for path in args.models:
        model = load_model(path).float().eval()
        name = model_id(model).hex()
        lo, hi = model.config.lmbda_min, model.config.lmbda_max
        for lmbda in (lo, math.sqrt(lo * hi), hi):
            rows = [rates(model, x, lmbda) for x in tqdm(images, desc=f"{name} λ={lmbda:.3g}", leave=False)]
            m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            saving = 1 - (m["y"] + m["z"]) / m["y_constant"]
            lines.append(f"| {name} | {lmbda:.4g} | {m['y']:.4f} | {m['y_constant']:.4f} | {m['z']:.4f} | "
                         f"{100 * saving:.1f} % | {100 * m['dead']:.0f} % |")  # fmt: skip
            print(lines[-1], flush=True)
    out = ROOT / "benchmarks" / "results" / "hyperprior_gain.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
