"""What a protection method is: its declared options and conditions, and a plan per photo.

Each method lives in its own module (torchattacks' one-attack-per-module) and only decides
the objective, the success condition and the extra report fields; the loop, the budget,
quantisation and verification on the saved file are shared. What a method accepts is declared
on the class (its options dataclass, the conditions it can be judged by, whether it needs the
label hierarchy, the margin loss or the relational mask), so the settings check, the CLI flags
and the GUI's fields all read one place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

from pixelguard.attacks.conditions import GENERIC_CONDITIONS, Condition
from pixelguard.attacks.loop import Objective

# How a face shows an option: a line of text, an on/off switch, or a comma-separated list.
OPTION_KINDS = ("text", "switch", "list")


def option(default: Any, help: str, kind: str, names_labels: bool = False) -> Any:
    """A field of a method's options dataclass, with its --flag help and how faces show it;
    `names_labels`: its value is one or more of the model's label names, checked once per run."""
    assert kind in OPTION_KINDS
    return field(default=default, metadata={"help": help, "kind": kind, "names_labels": names_labels})


@dataclass(frozen=True)
class NoOptions:
    """A method with nothing of its own to choose."""


@dataclass
class PlanContext:
    """What a method may look at when planning the attack on one photo."""

    model: torch.nn.Module
    labels: list[str]
    image: torch.Tensor  # (3,H,W) in [0,1]
    clean_logits: torch.Tensor  # (C,)
    budget: torch.Tensor  # (H,W) pT
    condition: str  # one of the method's declared conditions
    options: Any = NoOptions()  # the method's own options (its options_type)
    label: str | None = None  # the user's label to remove (default: the clean top-1)
    k: int = 5  # top-k cut-off of the semantic condition and the tag methods
    l1: float = 1.0  # weight of the L1 term on the budget used

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

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for --help
    title: ClassVar[str]  # what it does, in a user's words, for the GUI
    paper: ClassVar[str]  # the method's name in the literature, shown second
    options_type: ClassVar[type] = NoOptions  # a frozen dataclass of option() fields
    conditions: ClassVar[tuple[str, ...]] = GENERIC_CONDITIONS  # the first is the default
    supports_margin_loss: ClassVar[bool] = False  # --loss margin replaces its objective
    uses_relational_mask: ClassVar[bool] = False  # the budget is limited to the relational mask

    def needs_hierarchy(self, condition: str, options: Any) -> bool:
        """Whether planning needs the label hierarchy (which labels are related to which)."""
        return condition == "semantic"

    @abstractmethod
    def plan(self, context: PlanContext) -> AttackPlan:
        """Choose the objective and the condition for this photo."""
