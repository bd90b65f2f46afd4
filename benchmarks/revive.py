"""Re-draw a model's silent hidden channels without changing what it computes.

    python benchmarks/revive.py MODEL OUT [--images DIR] [--seed 0]

A hidden channel is silent when ``channel_use.py`` finds it so (RMS under 1 % of its layer's
strongest at λ_min, the middle and λ_max, on central 256² crops of every 20th training photo).
For each silent channel between two conv layers of g_a, g_s, h_a or h_s, the conv producing it
gets fresh random weights (the live channels' standard deviation) and zero bias, its FiLM
coefficients go back to the identity, its GDN entries to a fresh GDN's, and the conv reading it
gets zero weights for it: the model's output is unchanged, but training now has a gradient
that can put those channels to use. ŷ and ẑ channels are left as they are. Writes a float32
model file and prints its identifier.
"""

from __future__ import annotations

import argparse

import torch
from compressai.layers import GDN
from torch import nn

from channel_use import rms_by_lmbda, silent, training_crops
from synthesis_ceiling import TRAIN
from yotocodec.modelfile import load_model, save_model


def silent_channels(model, crops: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Indexes of the channels each conv layer reads that are silent at all three λ."""
    return {name: silent(rms).all(0).nonzero().flatten() for name, rms in rms_by_lmbda(model, crops).items()}


def _outputs(conv: nn.Module) -> torch.Tensor:
    """``conv``'s weight viewed with output channels first."""
    return conv.weight.transpose(0, 1) if isinstance(conv, nn.ConvTranspose2d) else conv.weight


def _inputs(conv: nn.Module) -> torch.Tensor:
    """``conv``'s weight viewed with input channels first."""
    return conv.weight if isinstance(conv, nn.ConvTranspose2d) else conv.weight.transpose(0, 1)


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
            live = torch.ones(w.shape[0], dtype=torch.bool)
            live[idx] = False
            w[idx] = torch.randn_like(w[idx]) * w[live].std()
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--images", default=str(TRAIN), help="training photos (never Kodak)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    model = load_model(args.model).float().eval()
    counts = revive(model, silent_channels(model, training_crops(args.images, 6)))
    print(", ".join(f"{name} {n}" for name, n in counts.items()))
    print(f"revived {sum(counts.values())} channels; {save_model(model, args.out).hex()}")


if __name__ == "__main__":
    main()
