"""LabelFool: make the classifier see a plausible other label (Liu, Jiang, Jiang, IJCNN 2022).

The target is chosen automatically (LabelFool, Liu, Jiang, Jiang, IJCNN 2022) from a class-to-class distance
D computed from the model itself, and reached by the targeted colour-variance attack through
the shared loop. The privacy variant only takes targets outside the true label's semantic
neighbourhood (section 6): plausible, yet not "bedroom -> hotel room".
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from pixelguard.attacks.base import AttackPlan, Method, PlanContext, option
from pixelguard.attacks.conditions import Condition, SemanticMismatch
from pixelguard.attacks.objectives import DEFAULT_L1_WEIGHT, l1_penalty, label_to_remove
from pixelguard.attacks.semantic import related_log_probability
from pixelguard.errors import PixelGuardError
from pixelguard.labels import find_label
from pixelguard.semantics import related_report, relation_for

# Above this top-1 probability the nearest class to the top-1 is the target (the paper's rule).
CONFIDENT = 0.8
# Otherwise the labels with at least this probability (and the top-1) weigh the distances.
LEADING = 0.01

# D per loaded model: built once, dropped with the model.
_DISTANCES: "weakref.WeakKeyDictionary[torch.nn.Module, torch.Tensor]" = weakref.WeakKeyDictionary()


def cosine_distances(weight: torch.Tensor) -> torch.Tensor:
    """D[i, j] = 1 - cos(w_i, w_j) between class weight vectors (C, D): symmetric, zero diagonal."""
    unit = F.normalize(weight.detach().float(), dim=1)
    distances = (1 - unit @ unit.T).clamp_(min=0)
    distances.fill_diagonal_(0)
    return (distances + distances.T) / 2  # exact symmetry despite float rounding


def class_distances(model: torch.nn.Module) -> torch.Tensor:
    """LabelFool's D for a model, from its final layer (Classifier.classifier_weight), on the CPU.

    The authors used Hausdorff distances between training-image features; no training images
    ship here, and the class weight vectors are what the model itself says about how alike
    two classes look to it.
    """
    if model not in _DISTANCES:
        weight = getattr(model, "classifier_weight", None)
        if weight is None:
            raise PixelGuardError("labelfool needs a model whose last layer is a linear layer over its classes")
        _DISTANCES[model] = cosine_distances(weight).cpu()
    return _DISTANCES[model]


def leading_labels(probabilities: torch.Tensor) -> torch.Tensor:
    """S as a (C,) mask: the top-1 alone when confident, else the labels with p >= 0.01."""
    leading = torch.zeros_like(probabilities, dtype=torch.bool)
    top = int(probabilities.argmax())
    if probabilities[top] <= CONFIDENT:
        leading |= probabilities >= LEADING
    leading[top] = True
    return leading


def mean_distances(probabilities: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
    """Each class's distance from what the model sees now: sum_{j in S} p_j D[i, j] / sum_S p_j.

    Dividing by sum_S p_j keeps the paper's argmin and makes the confident case D[top1, i].
    """
    probabilities = probabilities.detach().float().cpu()
    weights = probabilities * leading_labels(probabilities)
    return distances @ weights / weights.sum()


def choose_targets(
    probabilities: torch.Tensor, distances: torch.Tensor, excluded: Sequence[int] = (), count: int = 1
) -> list[tuple[int, float]]:
    """The `count` best targets, best first, as (class, distance); never a class in S or `excluded`."""
    probabilities = probabilities.detach().float().cpu()
    scores = mean_distances(probabilities, distances)
    ruled_out = leading_labels(probabilities)
    ruled_out[list(excluded)] = True
    scores = scores.masked_fill(ruled_out, float("inf"))
    values, indices = scores.topk(min(count, scores.numel()), largest=False)
    return [(int(i), float(v)) for v, i in zip(values, indices) if v != float("inf")]


def excluded_targets(model: torch.nn.Module, label: int, privacy: bool) -> list[int]:
    """The label itself, or with `privacy` its whole semantic neighbourhood (which includes it)."""
    return relation_for(model).neighbourhood(label) if privacy else [label]


def labelfool_candidates(
    model: torch.nn.Module, logits: torch.Tensor, k: int = 3, *, label: int | None = None, privacy: bool = False
) -> list[tuple[str, float]]:
    """The target LabelFool would choose and its runners-up, as (label name, distance), best first.

    logits: the clean photo's (C,); label: the label to remove (default: the top-1).
    """
    label = int(logits.argmax()) if label is None else label
    excluded = excluded_targets(model, label, privacy)
    ranked = choose_targets(logits.softmax(dim=-1), class_distances(model), excluded, k)
    return [(model.labels[index], distance) for index, distance in ranked]


@dataclass(frozen=True)
class PredictsTarget(Condition):
    """The top prediction is the target (the privacy variant adds `& SemanticMismatch`)."""

    target: int = 0

    name = "target"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=-1) == self.target

    def describe(self, labels: list[str]) -> str:
        return f"the classifier now sees '{labels[self.target]}' instead of '{labels[self.label]}'"


@dataclass(frozen=True)
class LabelFoolOptions:
    target: str | None = option(None, "the label the classifier should see instead (default: automatic)", "text",
                                names_labels=True)
    privacy_target: bool = option(False, "choose a target semantically far from the true label "
                                         "(as --condition semantic)", "switch")


@dataclass
class TargetedObjective:
    """loss = CE(logits, target) [+ log sum_{c in R} p_c] + l1_weight * ||v||_1 / ||pT||_1.

    The targeted colour-variance loss; in the privacy variant the semantic term also pushes
    the true label's neighbourhood R out of the top k.
    """

    target: int
    budget_l1: float
    l1_weight: float = DEFAULT_L1_WEIGHT
    related: tuple[int, ...] = ()

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        target = torch.full((logits.shape[0],), self.target, device=logits.device)
        loss = F.cross_entropy(logits, target)
        if self.related:
            loss = loss + related_log_probability(logits, self.related).mean()
        return loss + l1_penalty(perturbation, self.budget_l1, self.l1_weight)


class LabelFoolMethod(Method):
    name = "labelfool"
    summary = "make the classifier see a plausible other label, chosen automatically (LabelFool)"
    title = "Make it see something else"
    paper = "LabelFool (Liu, Jiang, Jiang, IJCNN 2022)"
    options_type = LabelFoolOptions
    # semantic: the target and nothing related to the truth in the top k (the privacy variant);
    # target: the top prediction is the target.
    conditions = ("semantic", "target")

    def needs_hierarchy(self, condition: str, options: LabelFoolOptions) -> bool:
        return condition == "semantic" or options.privacy_target

    def plan(self, context: PlanContext) -> AttackPlan:
        options: LabelFoolOptions = context.options
        labels = context.labels
        label = label_to_remove(context)
        privacy = self.needs_hierarchy(context.condition, options)
        excluded = excluded_targets(context.model, label, privacy)
        probabilities = context.clean_logits.softmax(dim=-1)
        distances = class_distances(context.model)
        if options.target:
            target = find_label(labels, options.target)
            if target == label:
                raise PixelGuardError(f"--target '{labels[target]}' is the label to remove; choose another")
            if target in excluded:
                raise PixelGuardError(
                    f"--target '{labels[target]}' is semantically related to '{labels[label]}'; "
                    "a privacy target must be unrelated"
                )
            distance = float(mean_distances(probabilities, distances)[target])
        else:
            ranked = choose_targets(probabilities, distances, excluded)
            if not ranked:
                raise PixelGuardError(f"no label is far enough from '{labels[label]}' to aim for")
            target, distance = ranked[0]
        related = tuple(excluded) if privacy else ()
        condition = PredictsTarget(label, target)
        if privacy:
            condition = condition & SemanticMismatch(label, frozenset(related), context.k)
        return AttackPlan(
            TargetedObjective(target, context.budget_l1, context.l1, related),
            condition,
            label,
            details={"target": labels[target], "target_distance": round(distance, 6)},
            report_after=related_report(context.model, label, context.k),
        )
