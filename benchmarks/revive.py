"""Re-draw a model's silent hidden channels without changing what it computes.

    python benchmarks/revive.py MODEL OUT [--images DIR] [--seed 0] [--latents [--scale 0.5] [--read 0] [--power 1]]

A hidden channel is silent when ``channel_use.py`` finds it so (RMS under 1 % of its layer's
strongest at λ_min, the middle and λ_max, on central 256² crops of every 20th training photo).
For each silent channel between two conv layers of g_a, g_s, h_a or h_s, the conv producing it
gets fresh random weights (the live channels' standard deviation) and zero bias, its FiLM
coefficients go back to the identity, its GDN entries to a fresh GDN's, and the conv reading it
gets zero weights for it: the model's output is unchanged, but training now has a gradient
that can put those channels to use. ŷ and ẑ channels are left as they are. Writes a float32
model file and prints its identifier.

``--latents`` revives ŷ's silent channels instead (``revive_latents``): g_a gives them random
signal whose RMS rises from 0 at λ_min to ``--scale`` at λ_max (as ((t + 1) / 2) ** ``--power``
of the normalised log λ t ∈ [-1, 1], linearly by default, through g_a's last FiLM), h_s gives
them that same scale as their Gaussian's σ, h_a reads them with zero weights and g_s with zero
weights too, or with small random ones (``--read``, relative to the live channels' std). The
other channels' rates are unchanged, and with zero weights the image too; the revived channels
cost bits (most at λ_max) until training either uses or silences them. With zero weights 300
CPU steps silenced them again (see docs/high-rate-ceiling.md): distortion sends them no
gradient until g_s has learned to read them.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from channel_use import rms_by_lmbda, silent
from synthesis_ceiling import TRAIN, training_crops
from yotocodec.model import compressai_layers, output_dim
from yotocodec.modelfile import load_model, save_model

GDN = compressai_layers()[0]


def silent_channels(model, crops: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Indexes of the channels each conv layer reads that are silent at all three λ."""
    return {name: silent(rms).all(0).nonzero().flatten() for name, rms in rms_by_lmbda(model, crops).items()}


def _outputs(conv: nn.Module) -> torch.Tensor:
    """``conv``'s weight viewed with output channels first."""
    return conv.weight.transpose(0, output_dim(conv))


def _inputs(conv: nn.Module) -> torch.Tensor:
    """``conv``'s weight viewed with input channels first."""
    return conv.weight.transpose(0, 1 - output_dim(conv))


@torch.no_grad()
def revive(model, dead: dict[str, torch.Tensor]) -> dict[str, int]:
    """Re-draw the ``dead`` hidden channels in place (see the module docstring); how many, per
    reading layer."""
    counts = {}
    for part in ("g_a", "g_s", "h_a", "h_s"):
        seq = model.get_submodule(part)
        convs = [i for i in range(len(seq)) if isinstance(seq[i], (nn.Conv2d, nn.ConvTranspose2d))]
        for made, read in zip(convs, convs[1:]):
            idx = dead[f"{part}.{read}"]
            if not idx.numel():
                continue
            w = _outputs(seq[made])
            w[idx] = torch.randn_like(w[idx]) * w[_others(w.shape[0], idx)].std()
            seq[made].bias[idx] = 0
            film = seq[made + 1].mlp[2]
            for rows in (idx, idx + w.shape[0]):
                film.weight[rows] = 0
                film.bias[rows] = 0
            if isinstance(seq[made + 2], GDN):
                gdn, fresh = seq[made + 2], GDN(w.shape[0], inverse=seq[made + 2].inverse)
                gdn.beta[idx] = fresh.beta[idx]
                gdn.gamma[idx] = fresh.gamma[idx]
                gdn.gamma[:, idx] = fresh.gamma[:, idx]
            _inputs(seq[read])[idx] = 0
            counts[f"{part}.{read}"] = idx.numel()
    return counts


LATENT_SCALE = 0.5
"""RMS of a revived ŷ channel at λ_max (and its σ there): about a third of its elements round
to ±1, so the weights reading it get a gradient from the first step."""


@torch.no_grad()
def revive_latents(model, idx: torch.Tensor, crops: list[torch.Tensor], scale: float = LATENT_SCALE,
                   read: float = 0.0, power: float = 1.0) -> None:  # fmt: skip
    """Give the silent ŷ channels ``idx`` signal and matching scales (see the module docstring);
    g_s reads them with random weights ``read`` times as large (std) as the live channels', or
    zero weights (``read`` 0: the image stays as it was). Their RMS and σ follow ((t + 1) / 2) **
    ``power`` of the normalised log λ t: a power above 1 spares the middle λ."""
    def ramp(t):
        return ((t + 1) / 2) ** power

    produce, gate = model.g_a[-2], model.g_a[-1]
    produce.weight[idx] = torch.randn_like(produce.weight[idx])
    produce.bias[idx] = 0
    _fit_film(gate, idx, sigma=ramp, mu=lambda t: 0 * t)
    t_max = model.condition(torch.tensor([model.config.lmbda_max]))
    rms = torch.stack([model.g_a(x, t_max)[0, idx].pow(2).mean((1, 2)) for x in crops]).mean(0).sqrt()
    produce.weight[idx] *= (scale / rms).reshape(-1, 1, 1, 1)
    scales = model.h_s[-3]
    scales.weight[idx] = 0
    scales.bias[idx] = 0
    _fit_film(model.h_s[-2], idx, sigma=lambda t: 1 + 0 * t, mu=lambda t: scale * ramp(t))
    model.h_a[0].weight[:, idx] = 0
    reads = model.g_s[0].weight
    reads[idx] = torch.randn_like(reads[idx]) * read * reads[_others(reads.shape[0], idx)].std() if read else 0


def _others(n: int, idx: torch.Tensor) -> torch.Tensor:
    """A mask of the ``n`` channels that are not in ``idx``."""
    keep = torch.ones(n, dtype=torch.bool)
    keep[idx] = False
    return keep


RIDGE = 1e-4
"""The FiLM fit's ridge penalty: a cubic ramp's fit stays within 0.2 % with weights under 0.3."""


def _fit_film(film, idx: torch.Tensor, sigma, mu) -> None:
    """Set the output rows of ``film``'s MLP for channels ``idx`` so that its σ(t) and μ(t) are
    ``sigma`` and ``mu`` of the normalised log λ t ∈ [-1, 1] (ridge regression over its hidden
    ReLU features, so that the weights stay as small as the trained ones: a plain least-squares
    fit of a cubic ramp had weights near 2e4, and training blew the revived channels up; refused
    if the fit is off by more than 1 % of the largest target)."""
    t = torch.linspace(-1, 1, 201).reshape(-1, 1)
    hidden = film.mlp[1](film.mlp[0](t))
    features = torch.cat([hidden, torch.ones_like(t)], 1).double()
    target = torch.cat([sigma(t) - 1, mu(t)], 1)
    gram = features.T @ features + RIDGE * torch.eye(features.shape[1], dtype=torch.float64)
    solution = torch.linalg.solve(gram, features.T @ target.double()).float()
    error = float((features.float() @ solution - target).abs().max())
    if error > 1e-2 * float(target.abs().max()):
        raise ValueError(f"FiLM cannot express the revival's ramp (off by {error:.2g})")
    out, channels = film.mlp[2], film.mlp[2].out_features // 2
    for col, rows in enumerate((idx, idx + channels)):
        out.weight[rows] = solution[:-1, col]
        out.bias[rows] = solution[-1, col]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--images", default=str(TRAIN), help="training photos (never Kodak)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latents", action="store_true", help="revive ŷ's silent channels instead of the hidden ones")
    p.add_argument("--scale", type=float, default=LATENT_SCALE, help="--latents: their RMS and σ at λ_max")
    p.add_argument("--read", type=float, default=0.0,
                   help="--latents: std of g_s's weights reading them, relative to the live channels' (0: zero)")
    p.add_argument("--power", type=float, default=1.0,
                   help="--latents: the ramp's power in normalised log λ (1: linear; above 1 spares the middle λ)")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    model = load_model(args.model).float().eval()
    crops = training_crops(args.images, 6)
    dead = silent_channels(model, crops)
    if args.latents:
        revive_latents(model, dead["g_s.0"], crops, args.scale, args.read, args.power)
        counts = {"ŷ": dead["g_s.0"].numel()}
    else:
        counts = revive(model, dead)
    print(", ".join(f"{name} {n}" for name, n in counts.items()))
    print(f"revived {sum(counts.values())} channels; {save_model(model, args.out).hex()}")


if __name__ == "__main__":
    main()
