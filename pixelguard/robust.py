"""Robust protection: optimise over many routes to a classifier, keep a margin, check elsewhere.

A protection that just crosses one pipeline's decision boundary is undone by another resizer,
an upload's downscale or its JPEG. Here the attack loop sees, every step, the photo along a
fresh random set of routes (pixelguard.views: uploads, resize kernels and libraries, shorter
sides, off-centre crops, the whole frame), and stops only once the truth is out of reach by a
margin on every route for several steps in a row. The perturbation lives on a grid no finer
than an upload keeps (UPLOAD_GRID_SIDE): finer detail is destroyed by the platform's downscale
before any classifier sees it, and a smooth change survives resizers that sample without
antialiasing. The change is bounded by the perceptual budget (pixelguard.perceptual).

The margin is Carlini and Wagner's logit margin ("Towards Evaluating the Robustness of Neural
Networks", IEEE S&P 2017, arXiv:1608.04644) generalised to a set: the truth's related labels R
(itself for top-k conditions, its semantic neighbourhood for the semantic one) must trail the
k-th best unrelated label by `confidence` logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pixelguard.attacks.conditions import Condition, NotInTopK, SemanticMismatch
from pixelguard.views import RoutedModel, RouteSampler

UPLOAD_GRID_SIDE = 1080  # long side of the grid the perturbation lives on (a typical upload's)
VIEWS_PER_STEP = 2
PATIENCE = 3  # consecutive steps the margin must hold, each on fresh routes
DEFAULT_CONFIDENCE = 3.0  # logits
LEARNING_RATE = 1 / 255


def removal_set(condition: Condition) -> tuple[tuple[int, ...], int] | None:
    """(labels that must leave the top k, k) for conditions that only push labels down."""
    if isinstance(condition, SemanticMismatch):
        return tuple(sorted(condition.related | {condition.label})), condition.k
    if isinstance(condition, NotInTopK):
        return (condition.label,), condition.k
    return None


def set_margin(logits: torch.Tensor, labels: tuple[int, ...], rank: int) -> torch.Tensor:
    """logsumexp of the set's logits minus the rank-th largest logit outside it, per row (B,).

    Negative implies no label of the set is in the top `rank` (logsumexp >= max)."""
    index = torch.tensor(labels, device=logits.device)
    inside = logits.index_select(-1, index).logsumexp(dim=-1)
    outside = logits.index_fill(-1, index, float("-inf"))
    threshold = outside.topk(min(rank, logits.shape[-1] - len(labels)), dim=-1).values[:, -1]
    return inside - threshold


@dataclass
class SetMarginObjective:
    """mean over views of max(0, set_margin + confidence): views already past the margin stop
    pulling, so the steps go to the routes that still see the truth."""

    labels: tuple[int, ...]
    rank: int
    confidence: float

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        return (set_margin(logits, self.labels, self.rank) + self.confidence).clamp(min=0).mean()


@dataclass(frozen=True)
class MarginHolds(Condition):
    """`base` holds and the set trails by `confidence` logits (the loop's stop; reports and the
    verification use `base`)."""

    base: Condition
    labels: tuple[int, ...] = ()
    rank: int = 5
    confidence: float = DEFAULT_CONFIDENCE

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return self.base(logits) & (set_margin(logits, self.labels, self.rank) <= -self.confidence)

    def describe(self, labels: list[str]) -> str:
        return self.base.describe(labels)


def stop_condition(condition: Condition, confidence: float) -> Condition:
    """The loop's stop for `condition`: with a margin where the condition only pushes labels down."""
    members = removal_set(condition)
    if members is None or confidence <= 0:
        return condition
    return MarginHolds(condition.label, condition, members[0], members[1], confidence)


class SampledRoutes(nn.Module):
    """A model that, each call, classifies the photo along `count` fresh random routes:
    logits (count, C) for one photo."""

    def __init__(self, model: nn.Module, count: int = VIEWS_PER_STEP, seed: int = 0):
        super().__init__()
        self.routed = RoutedModel(model)
        self.labels = model.labels
        self.sampler = RouteSampler(seed)
        self.count = count

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.routed(images, self.sampler.sample_many(self.count))
