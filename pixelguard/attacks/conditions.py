"""Success conditions: objects the attack loop asks "is this photo protected yet?".

A condition looks only at the model's logits for a batch of candidate images and answers
per image, like foolbox 3's criteria, and combines with `&` as they do (Rauber et al.,
"Foolbox Native", JOSS 2020, doi:10.21105/joss.02607). The label to remove (c0) is fixed when
the condition is made: the user's `--label`, or the model's clean top-1.

>>> both = NotInTopK(3, k=1) & Top1Margin(3)
>>> both.name
'top1 & top1-margin'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from pixelguard.errors import PixelGuardError

# The conditions make_condition builds, for any method judged on one label.
GENERIC_CONDITIONS = ("semantic", "top1", "top5", "top1-margin")


@dataclass(frozen=True)
class Condition(ABC):
    """Base: `label` is the class index the protection must remove; `name` is its report name."""

    label: int

    name = "condition"

    def __and__(self, other: "Condition") -> "AllOf":
        return AllOf(self.label, (self, other))

    @abstractmethod
    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Boolean tensor (B,): True where the condition holds."""

    @abstractmethod
    def describe(self, labels: list[str]) -> str:
        """The verdict in plain words, for reports and the GUI."""


@dataclass(frozen=True)
class NotInTopK(Condition):
    """The label has left the k highest-scoring classes (k=1: top-1 changed)."""

    k: int = 5

    @property
    def name(self) -> str:
        return "top1" if self.k == 1 else f"top{self.k}"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        top = logits.topk(min(self.k, logits.shape[-1]), dim=-1).indices
        return (top != self.label).all(dim=-1)

    def describe(self, labels: list[str]) -> str:
        where = "the top prediction" if self.k == 1 else f"in the top {self.k}"
        return f"'{labels[self.label]}' is no longer {where}"


@dataclass(frozen=True)
class Top1Margin(Condition):
    """Top-1 changed and the new top-1 leads the label by a relative margin.

    (p_top1 - p_label) / p_top1 >= margin: the paper's "Top1-L1-50" run with margin 0.5.
    """

    margin: float = 0.5

    name = "top1-margin"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        probs = logits.softmax(dim=-1)
        top_prob, top_index = probs.max(dim=-1)
        gap = (top_prob - probs[..., self.label]) / top_prob
        return (top_index != self.label) & (gap >= self.margin)

    def describe(self, labels: list[str]) -> str:
        return (
            f"'{labels[self.label]}' is no longer the top prediction and trails it by "
            f"{self.margin:.0%}"
        )


@dataclass(frozen=True)
class SemanticMismatch(Condition):
    """No top-k prediction is semantically related to the label (Zhao, Dang, Larson).

    `related` is the label's neighbourhood R(label) (pixelguard.semantics); the label itself
    always counts as related.
    """

    related: frozenset[int] = frozenset()
    k: int = 5

    name = "semantic"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        top = logits.topk(min(self.k, logits.shape[-1]), dim=-1).indices
        related = torch.tensor(sorted(self.related | {self.label}), device=logits.device)
        return ~torch.isin(top, related).any(dim=-1)

    def describe(self, labels: list[str]) -> str:
        return f"none of the top {self.k} predictions is related to '{labels[self.label]}'"


@dataclass(frozen=True)
class AllOf(Condition):
    """Holds where every part holds (`a & b`); the verdict names each part."""

    parts: tuple[Condition, ...] = ()

    @property
    def name(self) -> str:
        return " & ".join(part.name for part in self.parts)

    def __and__(self, other: Condition) -> "AllOf":
        return AllOf(self.label, (*self.parts, other))

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        held = self.parts[0](logits)
        for part in self.parts[1:]:
            held = held & part(logits)
        return held

    def describe(self, labels: list[str]) -> str:
        return ", and ".join(part.describe(labels) for part in self.parts)


def make_condition(name: str, label: int, k: int = 5, related: frozenset[int] = frozenset()) -> Condition:
    """Build a condition from its command-line name (`related`: the label's neighbourhood, for semantic)."""
    if name == "top1":
        return NotInTopK(label, k=1)
    if name == "top5":
        return NotInTopK(label, k=5)
    if name == "top1-margin":
        return Top1Margin(label)
    if name == "semantic":
        return SemanticMismatch(label, related=frozenset(related), k=k)
    raise PixelGuardError(
        f"unknown condition '{name}'; choose one of: {', '.join(GENERIC_CONDITIONS)}"
    )
