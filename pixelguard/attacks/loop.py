"""The one optimisation loop every attack shares.

What differs between methods is a small objective (the loss to minimise) and a stop
condition; the loop owns the perturbation, the colour-variance budget, 8-bit quantisation,
early stopping, progress and cancellation (Algorithm 1 of the colour-variance attack, MediaEval 2019 Pixel Privacy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import torch

from pixelguard.attacks.conditions import Condition
from pixelguard.attacks.optimisers import MomentumIterative

# Adam learning rate in pixel units: with per-step rounding to the 8-bit grid a step below
# 0.5/255 would never move the perturbation.
DEFAULT_LEARNING_RATE = 2 / 255


# Keeps atanh(2x - 1) finite for pixels at 0 or 255.
_TANH_LIMIT = 1 - 1e-6


@dataclass(frozen=True)
class Optimiser:
    """How the loop steps: the optimiser, its learning rate, and the space it works in.

    Adam on the perturbation v is Algorithm 1 (the default). tanh_space optimises w in
    x' = (tanh(w + atanh(2x - 1)) + 1) / 2 instead (Carlini-Wagner; TkMIA), so steps shrink
    near black and white. Either way the budget projection and the 8-bit quantisation apply to
    v = x' - x after every step.
    """

    kind: Literal["adam", "sgd", "mi"] = "adam"
    lr: float = DEFAULT_LEARNING_RATE
    momentum: float = 0.0  # sgd and mi (momentum-iterative sign steps, attacks.optimisers)
    tanh_space: bool = False
    translation_invariant: bool = False  # mi only: TI gradient smoothing

    def build(self, parameter: torch.Tensor) -> torch.optim.Optimizer:
        if self.kind == "sgd":
            return torch.optim.SGD([parameter], lr=self.lr, momentum=self.momentum)
        if self.kind == "mi":
            return MomentumIterative([parameter], lr=self.lr, momentum=self.momentum,
                                     translation_invariant=self.translation_invariant)
        return _adam(parameter, self.lr)


ADAM = Optimiser()


class Objective(Protocol):
    """Scalar loss to minimise, given the logits of the perturbed image and v = x' - x.

    An objective may carry an `optimiser` attribute (an Optimiser) to say how the loop should
    minimise it; without one the loop uses ADAM.
    """

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor: ...


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


class Budget(Protocol):
    """What the perturbation may be: where it starts, how a step is brought back within bounds
    (in place, without grad), and what the loop hands back."""

    def start(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor: ...

    def project_(self, image: torch.Tensor, perturbation: torch.Tensor) -> None: ...

    def finish(self, adversarial: torch.Tensor) -> torch.Tensor: ...


@dataclass
class BoxBudget:
    """Algorithm 1's budget: |v| <= pT per channel, v on the 8-bit grid after every step."""

    bound: torch.Tensor  # (H,W) or (3,H,W)

    def start(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return random_start(self.bound.expand_as(image), image.shape, generator)

    def project_(self, image: torch.Tensor, perturbation: torch.Tensor) -> None:
        bound = self.bound.expand_as(perturbation)
        perturbation.clamp_(-bound, bound)
        quantise_toward_zero_(perturbation)

    def finish(self, adversarial: torch.Tensor) -> torch.Tensor:
        return _on_grid(adversarial)


class _TanhSpace:
    """The map between w and v = x' - x, with w = 0 at the clean image."""

    def __init__(self, image: torch.Tensor):
        self.image = image
        self.offset = torch.atanh((2 * image - 1).clamp(-_TANH_LIMIT, _TANH_LIMIT))

    def perturbation(self, parameter: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(parameter + self.offset) + 1) / 2 - self.image

    def parameter(self, perturbation: torch.Tensor) -> torch.Tensor:
        return torch.atanh((2 * (self.image + perturbation) - 1).clamp(-_TANH_LIMIT, _TANH_LIMIT)) - self.offset


def _adam(parameter: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    # The fused kernel is ~5x faster on a 12 MP perturbation; not every device has it.
    if parameter.device.type in ("cpu", "cuda"):
        return torch.optim.Adam([parameter], lr=lr, fused=True)
    return torch.optim.Adam([parameter], lr=lr)


def run_attack(
    model: torch.nn.Module,
    image: torch.Tensor,
    budget: torch.Tensor | Budget,
    objective: Objective,
    condition: Condition,
    *,
    max_iter: int = 100,
    optimiser: Optimiser | None = None,
    start: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    through: Callable[[torch.Tensor], torch.Tensor] | None = None,
    patience: int = 1,
    on_iteration: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> AttackOutcome:
    """Optimise a perturbation v within `budget` until `condition` holds.

    image: (3,H,W) in [0,1] on the 8-bit grid. budget: a Budget, or a (H,W) / (3,H,W) tensor
    pT for Algorithm 1's BoxBudget. The model may answer several rows of logits per image (one
    per view, pixelguard.views): the condition must hold on every row, on `patience`
    consecutive iterations (a protection that holds once, on fresh random views each time, sits
    on the decision boundary; one that keeps holding does not).
    optimiser: how to step; default: the objective's own `optimiser`, else ADAM.
    start: a perturbation to continue from (e.g. after a failed verification); default is
    the budget's start. through: what saving does to the pixels (e.g. a real JPEG encode and
    decode), not differentiable: the model sees its output and the gradient passes straight
    through, so the condition is met on what will be written.
    on_iteration(i, max_iter) reports progress; should_stop() cancels.
    """
    optimiser = optimiser or getattr(objective, "optimiser", ADAM)
    if isinstance(budget, torch.Tensor):
        budget = BoxBudget(budget)
    if start is None:
        perturbation = budget.start(image, generator)
    else:
        perturbation = start.detach().clone()
        budget.project_(image, perturbation)
    space = _TanhSpace(image) if optimiser.tanh_space else None
    parameter = perturbation if space is None else space.parameter(perturbation)
    parameter.requires_grad_(True)
    stepper = optimiser.build(parameter)

    iteration = 0
    held = 0
    while True:
        if should_stop is not None and should_stop():
            raise AttackCancelled
        perturbation = parameter if space is None else space.perturbation(parameter)
        adversarial = (image + perturbation).clamp(0, 1)
        seen = adversarial
        if through is not None:
            seen = adversarial + (through(_on_grid(adversarial)) - adversarial).detach()
        logits = model(seen.unsqueeze(0))
        held = held + 1 if bool(condition(logits.detach()).all()) else 0
        if held >= patience:
            return AttackOutcome(budget.finish(adversarial), True, iteration, logits.detach()[0])
        if iteration >= max_iter:
            return AttackOutcome(budget.finish(adversarial), False, iteration, logits.detach()[0])
        loss = objective(logits, perturbation)
        stepper.zero_grad(set_to_none=True)
        loss.backward()
        stepper.step()
        with torch.no_grad():
            projected = parameter if space is None else space.perturbation(parameter)
            budget.project_(image, projected)
            if space is not None:
                parameter.copy_(space.parameter(projected))
        iteration += 1
        if on_iteration is not None:
            on_iteration(iteration, max_iter)


def _on_grid(image: torch.Tensor) -> torch.Tensor:
    """Exact 8-bit values (guards against float error in image + v)."""
    return image.detach().mul(255).round_().div_(255)
