"""The one optimisation loop every attack shares.

What differs between methods is a small objective (the loss to minimise) and a stop
condition; the loop owns the perturbation, the colour-variance budget, 8-bit quantisation,
early stopping, progress and cancellation (ALGORITHMS.md section 3, Algorithm 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from pixelguard.attacks.conditions import Condition

# Adam learning rate in pixel units: with per-step rounding to the 8-bit grid a step below
# 0.5/255 would never move the perturbation.
DEFAULT_LEARNING_RATE = 2 / 255


class Objective(Protocol):
    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        """Scalar loss to minimise, given the logits of the perturbed image."""


class AttackCancelled(Exception):
    """Raised inside the loop when the caller asked to stop (GUI Cancel, Ctrl-C)."""


@dataclass
class AttackOutcome:
    adversarial: torch.Tensor  # (3,H,W) in [0,1], on the 8-bit grid
    success: bool
    iterations: int  # optimisation steps taken
    logits: torch.Tensor  # (C,) logits of `adversarial`


def quantise_toward_zero_(perturbation: torch.Tensor) -> torch.Tensor:
    """Snap to the 8-bit grid in place, rounding toward zero so |v| <= budget still holds."""
    return perturbation.mul_(255).trunc_().div_(255)


def random_start(
    budget: torch.Tensor, shape: torch.Size, generator: torch.Generator | None
) -> torch.Tensor:
    """v ~ U(-0.01, 0.01) * pT, elementwise."""
    noise = torch.rand(shape, generator=generator, device="cpu", dtype=budget.dtype)
    return (noise.to(budget.device) * 0.02 - 0.01) * budget


def _adam(parameter: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    # The fused kernel is ~5x faster on a 12 MP perturbation; not every device has it.
    if parameter.device.type in ("cpu", "cuda"):
        return torch.optim.Adam([parameter], lr=lr, fused=True)
    return torch.optim.Adam([parameter], lr=lr)


def run_attack(
    model: torch.nn.Module,
    image: torch.Tensor,
    budget: torch.Tensor,
    objective: Objective,
    condition: Condition,
    *,
    max_iter: int = 100,
    lr: float = DEFAULT_LEARNING_RATE,
    start: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    through: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> AttackOutcome:
    """Optimise a perturbation v with |v| <= budget until `condition` holds.

    image: (3,H,W) in [0,1] on the 8-bit grid. budget: (H,W) or (3,H,W) per-pixel bound pT.
    start: a perturbation to continue from (e.g. after a failed verification); default is
    the random start of Algorithm 1. through: what saving does to the pixels (e.g. a real
    JPEG encode and decode), not differentiable: the model sees its output and the gradient
    passes straight through, so the condition is met on what will be written.
    on_iteration(i, max_iter) reports progress; should_stop() cancels.
    """
    budget = budget.expand_as(image)
    lower = -budget
    if start is None:
        perturbation = random_start(budget, image.shape, generator)
    else:
        perturbation = start.detach().clone().clamp_(lower, budget)
        quantise_toward_zero_(perturbation)
    perturbation.requires_grad_(True)
    optimiser = _adam(perturbation, lr)

    iteration = 0
    while True:
        if should_stop is not None and should_stop():
            raise AttackCancelled
        adversarial = (image + perturbation).clamp(0, 1)
        seen = adversarial
        if through is not None:
            seen = adversarial + (through(_on_grid(adversarial)) - adversarial).detach()
        logits = model(seen.unsqueeze(0))
        if bool(condition(logits.detach())[0]):
            return AttackOutcome(_on_grid(adversarial), True, iteration, logits.detach()[0])
        if iteration >= max_iter:
            return AttackOutcome(_on_grid(adversarial), False, iteration, logits.detach()[0])
        loss = objective(logits, perturbation)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            perturbation.clamp_(lower, budget)
            quantise_toward_zero_(perturbation)
        iteration += 1
        if on_iteration is not None:
            on_iteration(iteration, max_iter)


def _on_grid(image: torch.Tensor) -> torch.Tensor:
    """Exact 8-bit values (guards against float error in image + v)."""
    return image.detach().mul(255).round_().div_(255)
