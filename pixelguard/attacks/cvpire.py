"""The colour-variance perturbation (CV-PIRE; Algorithm 1 of the MediaEval 2019 paper).

Untargeted: push the label's cross-entropy up, with an optional L1 penalty on the fraction
of the budget used. The loop, budget and quantisation live in pixelguard.attacks.loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pixelguard.attacks.base import AttackPlan, Method, PlanContext
from pixelguard.attacks.conditions import make_condition
from pixelguard.attacks.objectives import DEFAULT_L1_WEIGHT, l1_penalty, label_to_remove
from pixelguard.attacks.semantic import semantic_plan
from pixelguard.semantics import related_report


@dataclass
class ColourVarianceObjective:
    """loss = -CE(logits, label) + l1_weight * ||v||_1 / ||pT||_1."""

    label: int
    budget_l1: float
    l1_weight: float = DEFAULT_L1_WEIGHT

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        target = torch.full((logits.shape[0],), self.label, device=logits.device)
        loss = -F.cross_entropy(logits, target)
        return loss + l1_penalty(perturbation, self.budget_l1, self.l1_weight)


class ColourVarianceMethod(Method):
    name = "cvpire"
    summary = "remove the label from the top predictions (colour-variance attack)"
    title = "Hide what the photo shows"
    paper = "CV-PIRE, colour-variance attack (Sweere, MediaEval 2019 Pixel Privacy)"
    supports_margin_loss = True

    def plan(self, context: PlanContext) -> AttackPlan:
        label = label_to_remove(context)
        if context.condition == "semantic":
            return semantic_plan(context, label)
        objective = ColourVarianceObjective(label, context.budget_l1, context.l1)
        return AttackPlan(
            objective, make_condition(context.condition, label), label,
            report_after=related_report(context.model, label, context.k),
        )
