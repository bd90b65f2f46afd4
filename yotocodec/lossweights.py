"""Loss-term weights learned in the training run (YOTO, Sakaridis 2025).

The distortion is a convex mix ``D = Σ w_k·d_k`` with ``w = softmax(μ)``: positive, summing
to one, and, unlike ``w = exp(μ)``, with gradients that compare the terms instead of
shrinking every weight. μ_0 is fixed at 0 (the first term sets the scale); the others are
parameters trained with the network. A uniform prior keeps the optimum bounded: the
regularizer ``β·KL(u ‖ w) = β·(−log K − mean_k log w_k)`` grows without bound as any weight
goes to 0, so no term is dropped unless the data pay for it against β. (The paper's exact
regularizer could not be checked here; this is a uniform-prior KL term with that property.)

The rate–distortion λ is not among these weights: it stays the YOTO conditioning input.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LossWeights(nn.Module):
    """Weights of the loss terms ``names``: learned (``learn``) or a fixed mix (``init``)."""

    def __init__(self, names: tuple[str, ...], learn: bool = True, strength: float = 0.01,
                 init: tuple[float, ...] | None = None):  # fmt: skip
        super().__init__()
        init = init or (1.0,) * len(names)
        if len(init) != len(names) or min(init) <= 0:
            raise ValueError(f"need {len(names)} positive initial weights for {names}, got {init}")
        self.names, self.learn, self.strength = tuple(names), learn, strength
        mu = torch.tensor([math.log(w / init[0]) for w in init[1:]])
        self.mu = nn.Parameter(mu, requires_grad=learn)

    def weights(self) -> Tensor:
        """w = softmax([0, μ_1, …]), shape (K,)."""
        return torch.softmax(torch.cat([self.mu.new_zeros(1), self.mu]), dim=0)

    def regularizer(self) -> Tensor:
        """β·KL(uniform ‖ w) while learning; 0 for a fixed mix."""
        if not self.learn:
            return self.mu.new_zeros(())
        return self.strength * (-math.log(len(self.names)) - torch.log(self.weights()).mean())

    def forward(self, terms: dict[str, Tensor]) -> Tensor:
        """The weighted sum of the terms (each (B,) or scalar)."""
        return sum(w * terms[name] for w, name in zip(self.weights(), self.names))

    def as_dict(self) -> dict[str, float]:
        return {name: float(w) for name, w in zip(self.names, self.weights().detach())}
