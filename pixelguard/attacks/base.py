"""What a protection method is: given a photo, a plan for the shared attack loop.

Each method lives in its own module (torchattacks' one-attack-per-module) and only decides
the objective, the success condition and the extra report fields; the loop, the budget,
quantisation and verification on the saved file are shared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch

from pixelguard.attacks.conditions import Condition
from pixelguard.attacks.loop import Objective

if TYPE_CHECKING:
    from pixelguard.settings import ProtectSettings


@dataclass
class PlanContext:
    """What a method may look at when planning the attack on one photo."""

    model: torch.nn.Module
    labels: list[str]
    image: torch.Tensor  # (3,H,W) in [0,1]
    clean_logits: torch.Tensor  # (C,)
    budget: torch.Tensor  # (H,W) pT
    settings: "ProtectSettings"

    @property
    def budget_l1(self) -> float:
        """||pT||_1 over the three channels (never zero, so it can divide)."""
        return max(float(self.budget.sum()) * 3, 1e-12)


@dataclass
class AttackPlan:
    objective: Objective
    condition: Condition
    label: int  # the label the protection removes, for the report and the verdict
    details: dict = field(default_factory=dict)  # extra report fields known before the attack
    # Extra report fields measured on the saved file's logits (e.g. related labels left).
    report_after: Callable[[torch.Tensor], dict] | None = None


class Method(ABC):
    """A protection method; `name` is its --method value."""

    name: str
    summary: str  # one line for --help and the GUI

    @abstractmethod
    def plan(self, context: PlanContext) -> AttackPlan:
        """Choose the objective and the condition for this photo."""
