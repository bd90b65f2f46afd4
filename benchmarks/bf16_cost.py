"""What bf16 autocast costs a trained model: is training's precision what caps its quality?

    python benchmarks/bf16_cost.py [MODEL] [--images 6]

``yoto train`` runs the transforms under bf16 autocast (entropy models in float32) wherever the
device has native bf16. For central 256² crops of training photos (every 20th of
../shared/data/train; never Kodak) at λ_min and λ_max, this runs the model as training does
(``train.Objective``, quantization noise from the same seed) once in float32 and once under
bf16 autocast, and reports the PSNR of each forward pass and the cosine similarity of
the two weight gradients, per transform, with the float32 gradient of a second batch as the
yardstick: the error bf16 adds to a gradient matters only against the noise SGD already has.
Writes benchmarks/results/bf16_cost.md.
"""

from __future__ import annotations

import argparse

import torch
from torch.nn.functional import cosine_similarity

from rd import ROOT
from yotocodec.codec import DEFAULT_MODEL, to_tensor
from yotocodec.data import center_crop, list_images
from yotocodec.files import read_image
from yotocodec.metrics import mse_to_psnr
from yotocodec.modelfile import load_model, model_id
from yotocodec.train import Objective

TRAIN = ROOT.parent / "shared" / "data" / "train"
TRANSFORMS = ("g_a", "g_s", "h_a", "h_s")
KINDS = {"conv": lambda n: "mlp" not in n and not n.endswith(("beta", "gamma")),
         "FiLM": lambda n: "mlp" in n, "GDN": lambda n: n.endswith(("beta", "gamma"))}  # fmt: skip
"""Parameter kinds within a transform, by name: convolutions, FiLM MLPs, GDN/IGDN."""


def step(model, x: torch.Tensor, lmbda: float, bf16: bool) -> tuple[float, dict[tuple[str, str], torch.Tensor]]:
    """PSNR and the weight gradient, per (transform, kind), of one training forward/backward pass."""
    model.zero_grad()
    torch.manual_seed(0)  # the same quantization noise in both precisions
    terms = Objective(model, bf16)(x, torch.full((len(x),), lmbda))
    terms["loss"].backward()
    grads = {}
    for t in TRANSFORMS:
        named = list(getattr(model, t).named_parameters())
        grads[t, "all"] = torch.cat([p.grad.flatten() for _, p in named])
        for k, is_kind in KINDS.items():
            if chosen := [p.grad.flatten() for n, p in named if is_kind(n)]:
                grads[t, k] = torch.cat(chosen)
    return mse_to_psnr(float(terms["mse"].detach())), grads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default=None, help="model file (default: the shipped one)")
    p.add_argument("--images", type=int, default=6)
    args = p.parse_args()
    model = load_model(args.model or DEFAULT_MODEL).train()
    files = list_images(TRAIN)
    a, b = (torch.cat([center_crop(to_tensor(read_image(f))[0], 256)[None] for f in files[s::20][: args.images]])
            for s in (0, 10))  # fmt: skip
    lines = [f"bf16 autocast against float32, model {model_id(model).hex()}; batch A = {len(a)} central 256² crops "
             f"of training photos (every 20th), batch B = {len(b)} others (every 20th from the 11th); one training "
             "forward/backward pass each, same quantization noise.", "",
             "Gradient error of bf16, ‖∇A bf16 − ∇A fp32‖ / ‖∇A fp32‖, for all of a transform's weights and per "
             "kind, against the batch-to-batch difference in float32, ‖∇B fp32 − ∇A fp32‖ / ‖∇A fp32‖.", "",
             "| λ | transform | PSNR A fp32 | PSNR A bf16 | cos(∇A bf16, ∇A fp32) | bf16 error | conv | FiLM | GDN "
             "| batch B − A |", "|---" * 10 + "|"]  # fmt: skip
    for lmbda in (model.config.lmbda_min, model.config.lmbda_max):
        (p32, g32), (p16, g16), (_, gb) = (step(model, x, lmbda, bf16) for x, bf16 in ((a, False), (a, True), (b, False)))
        for t in TRANSFORMS:
            ratio = lambda g, k: f"{(g[t, k] - g32[t, k]).norm() / g32[t, k].norm():.3f}" if (t, k) in g else "–"  # noqa: E731
            cos = float(cosine_similarity(g32[t, "all"], g16[t, "all"], dim=0))
            errors = " | ".join(ratio(g16, k) for k in ("all", *KINDS))
            lines.append(f"| {lmbda:g} | {t} | {p32:.3f} | {p16:.3f} | {cos:.3f} | {errors} | {ratio(gb, 'all')} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "bf16_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
