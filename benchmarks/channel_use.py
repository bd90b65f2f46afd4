"""Which channels does a model use? Per-channel signal read by every conv layer, per model.

    python benchmarks/channel_use.py MODEL [MODEL ...] [--images 6] [--split 128]

For central 256² crops of training photos (every 20th of ../shared/data/train; never Kodak)
at λ_min, the middle of the range and λ_max, it measures the RMS of every channel each conv
layer reads: g_a's and g_s's hidden (GDN) channels, ŷ (g_s's input), h_a's and h_s's hidden
(ReLU) channels and ẑ. A channel is *silent* when its RMS stays under 1 % of its layer's
strongest at every λ: the layers after it barely see it, so it adds no capacity. ``--split
K`` also compares the median RMS of channels [0, K) and [K, C): after ``yoto train --init``
widened a model from N = K (``model.widen``), the channels it added are the second group.
Writes benchmarks/results/channel_use.md.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

import torch
from torch import nn

from rd import ROOT
from synthesis_ceiling import TRAIN, training_crops
from yotocodec.modelfile import load_model, model_id

SILENT = 0.01
"""A channel's RMS, relative to its layer's strongest, under which it counts as silent."""
PARTS = ("g_a", "h_a", "h_s", "g_s")


def layers(model) -> dict[str, nn.Module]:
    """Every conv layer of the four transforms, named like ``g_s.3``."""
    return {f"{part}.{i}": layer for part in PARTS for i, layer in enumerate(model.get_submodule(part))
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))}  # fmt: skip


@torch.no_grad()
def channel_rms(model, crops: list[torch.Tensor], lmbda: float) -> dict[str, torch.Tensor]:
    """RMS per channel of what each conv layer reads, over ``crops``, at ``lmbda``."""
    sums: dict[str, torch.Tensor] = defaultdict(float)
    hooks = [layer.register_forward_pre_hook(lambda _, inputs, name=name: sums.__setitem__(
                 name, sums[name] + inputs[0].pow(2).mean((0, 2, 3))))
             for name, layer in layers(model).items()]  # fmt: skip
    t = model.condition(torch.tensor([lmbda]))
    for x in crops:
        y = model.g_a(x, t)
        z_hat, _ = model.entropy_bottleneck(model.h_a(torch.abs(y), t), training=False)
        model.h_s(z_hat, t)
        model.g_s(torch.round(y), t)
    for hook in hooks:
        hook.remove()
    return {name: (s / len(crops)).sqrt() for name, s in sums.items()}


def rms_by_lmbda(model, crops: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """``channel_rms`` at λ_min, the middle of the range and λ_max: per layer, (λ, C)."""
    lo, hi = model.config.lmbda_min, model.config.lmbda_max
    per_lmbda = [channel_rms(model, crops, lm) for lm in (lo, math.sqrt(lo * hi), hi)]
    return {name: torch.stack([r[name] for r in per_lmbda]) for name in per_lmbda[0]}


def silent(rms: torch.Tensor) -> torch.Tensor:
    """Which channels of ``rms`` (λ, C) are silent, at each λ: (λ, C)."""
    return rms < SILENT * rms.amax(1, keepdim=True)


def table(model, crops: list[torch.Tensor], split: int) -> list[str]:
    """Markdown rows, one per layer with more than 3 input channels."""
    rows = []
    for name, rms in rms_by_lmbda(model, crops).items():
        if rms.shape[1] <= 3:
            continue
        quiet = silent(rms)
        groups = ""
        if split:
            first, rest = rms[-1, :split].median(), rms[-1, split:]
            groups = f" | {first:.3f} | {rest.median():.3f}" if rest.numel() else f" | {first:.3f} | –"
        rows.append(f"| {model_id(model).hex()} | {name} | {rms.shape[1]} | {int(quiet.all(0).sum())} | "
                    f"{int(quiet[-1].sum())}{groups} |")  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--split", type=int, default=0, metavar="K", help="compare channels [0, K) and [K, C)")
    args = p.parse_args()
    crops = training_crops(TRAIN, args.images)
    split = f" | median RMS at λ_max, channels < {args.split} | the others" if args.split else ""
    lines = [f"Channels each conv layer reads, on {len(crops)} central 256² crops of training photos (every 20th), "
             f"at λ = λ_min, the middle and λ_max; silent: RMS under {SILENT:.0%} of the layer's strongest channel "
             "(at all three λ, and at λ_max alone). A layer's name is that of the conv reading the channels: "
             "g_s.0 reads ŷ, h_s.0 reads ẑ, h_a.0 reads |y|.", "",
             f"| model | layer | channels | silent at every λ | silent at λ_max{split} |",
             "|---|---|---|---|---|" + ("---|---|" if args.split else "")]  # fmt: skip
    for path in args.models:
        model = load_model(path).float().eval()
        lines += table(model, crops, args.split)
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "channel_use.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
