"""Semantic-mismatch protection: push the label's whole neighbourhood out of the top k.

`--condition semantic` (semantic mismatch, Zhao, Dang, Larson): fooling "bedroom" into "hotel room"
protects nothing, so the colour-variance attack lowers the summed probability of every label
related to the truth, not just the label itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pixelguard.attacks.base import AttackPlan, PlanContext
from pixelguard.attacks.conditions import make_condition
from pixelguard.attacks.objectives import DEFAULT_L1_WEIGHT, l1_penalty
from pixelguard.semantics import relation_for


def related_log_probability(logits: torch.Tensor, related: tuple[int, ...]) -> torch.Tensor:
    """log sum_{c in related} p_c per image (B,), computed stably from the logits."""
    return logits[:, list(related)].logsumexp(dim=-1) - logits.logsumexp(dim=-1)


@dataclass
class SemanticObjective:
    """loss = log sum_{c in R} p_c + l1_weight * ||v||_1 / ||pT||_1.

    Minimising log sum_R p raises the semantic cross-entropy -log sum_R p, as cvpire's -CE
    raises the label's; with R = {label} the two objectives are the same.
    """

    related: tuple[int, ...]
    budget_l1: float
    l1_weight: float = DEFAULT_L1_WEIGHT

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        loss = related_log_probability(logits, self.related).mean()
        return loss + l1_penalty(perturbation, self.budget_l1, self.l1_weight)


def semantic_plan(context: PlanContext, label: int) -> AttackPlan:
    """The colour-variance attack with the semantic objective and condition for `label`."""
    relation = relation_for(context.model)
    related = relation.neighbourhood(label)
    k = context.k
    return AttackPlan(
        SemanticObjective(tuple(related), context.budget_l1, context.l1),
        make_condition("semantic", label, k=k, related=frozenset(related)),
        label,
        details={"neighbourhood_size": len(related)},
        report_after=relation.report_after(label, k),
    )
