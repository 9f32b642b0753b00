"""Pieces every method's objective shares: the L1 term on the budget used, and the label to remove.

cvpire's loss (Algorithm 1 of the MediaEval 2019 colour-variance paper) adds
l1_weight * ||v||_1 / ||pT||_1 to the label's negative cross-entropy, so that of two
perturbations that fool the model the one using less of its budget is preferred; the semantic,
LabelFool, KAA and transfer objectives add the same term.
"""

from __future__ import annotations

import torch

from pixelguard.attacks.base import PlanContext
from pixelguard.labels import find_label

DEFAULT_L1_WEIGHT = 1.0


def l1_penalty(perturbation: torch.Tensor, budget_l1: float, weight: float) -> torch.Tensor | float:
    """weight * fraction of the budget used (0 when the weight is 0)."""
    return weight * perturbation.abs().sum() / budget_l1 if weight else 0.0


def label_to_remove(context: PlanContext) -> int:
    """The user's --label, or the model's clean top-1."""
    if context.label:
        return find_label(context.labels, context.label)
    return int(context.clean_logits.argmax())
