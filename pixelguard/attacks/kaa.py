"""KAA+ER, the explainable K-limiting relational attack (Jiang, Xiamen University; from the talk's slides), for classifiers.

Two parts:
- the feature-layer attack: push the penultimate features F(x') away from the clean F(x)
  (untargeted), rather than a loss on the logits of this one model's head;
- the relational pixel mask C: only pixels with both strong positive and strong negative
  relations to the feature outputs may change; the budget becomes pT * C, once per photo.

A full Jacobian at native resolution (D x 3HW, D = 1280) is out of reach, so the mask is
built at model resolution (the photo downscaled to MASK_SIDE on its shorter side, which the
model sees almost unchanged) from `samples` random projections of the outputs (exact
per-output rows when D <= samples), then upsampled bilinearly so its edges stay soft.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from pixelguard.attacks.base import AttackPlan, Method, PlanContext
from pixelguard.attacks.conditions import make_condition
from pixelguard.attacks.objectives import l1_penalty, label_to_remove
from pixelguard.errors import PixelGuardError
from pixelguard.semantics import related_report, relation_for

MASK_SIDE = 256  # shorter side the Jacobian is taken at (the registry models resize to 256..292)
MASK_SAMPLES = 16  # output projections per photo (7 s at 256 px on 2 CPU cores)
# Per-output threshold alpha: this quantile of |J| over the pixels, so each output keeps its
# strongest 10 % of relations whatever its scale.
MASK_QUANTILE = 0.9
_BATCH = 8  # projections back-propagated together


def relational_jacobian(
    features: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    samples: int = MASK_SAMPLES,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rows of the Jacobian of features(image) with respect to the (3,h,w) image: (R,3,h,w).

    R = D exact rows when the feature size D <= samples, else `samples` random Gaussian
    projections u_r . F (each row d(u_r . F)/dx), which keep the signs' structure.
    """
    with torch.no_grad():
        size = features(image.unsqueeze(0)).shape[-1]
    if size <= samples:
        projections = torch.eye(size)
    else:
        projections = torch.randn(samples, size, generator=generator)
    projections = projections.to(image)
    rows = []
    for chunk in projections.split(_BATCH):
        batch = image.unsqueeze(0).expand(len(chunk), -1, -1, -1).clone().requires_grad_(True)
        with torch.enable_grad():
            outputs = features(batch)
            (gradient,) = torch.autograd.grad((outputs * chunk).sum(), batch)
        rows.append(gradient)
    return torch.cat(rows)


def ternarise(jacobian: torch.Tensor, quantile: float = MASK_QUANTILE) -> torch.Tensor:
    """+1 / 0 / -1 per row of (R, ...) with a per-row threshold: that quantile of |J|."""
    flat = jacobian.flatten(1)
    alpha = flat.abs().float().quantile(quantile, dim=1, keepdim=True)
    signs = (flat > alpha).to(torch.int8) - (flat < -alpha).to(torch.int8)
    return signs.view_as(jacobian)


def mask_from_ternary(ternary: torch.Tensor) -> torch.Tensor:
    """C (h,w): 1 where some output relates strongly positively and some strongly negatively
    to the pixel (any channel), 0 elsewhere."""
    positive = (ternary > 0).flatten(0, 1).any(dim=0)
    negative = (ternary < 0).flatten(0, 1).any(dim=0)
    return (positive & negative).float()


def relational_mask(
    model: torch.nn.Module,
    image: torch.Tensor,
    *,
    side: int = MASK_SIDE,
    samples: int = MASK_SAMPLES,
    quantile: float = MASK_QUANTILE,
    seed: int = 0,
) -> torch.Tensor:
    """The relational mask C of a (3,H,W) photo for model.features, (H,W) in [0,1]."""
    require_features(model)
    height, width = image.shape[-2:]
    scale = min(1.0, side / min(height, width))
    small = image
    if scale < 1:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        small = F.interpolate(image.unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    generator = torch.Generator().manual_seed(seed)
    jacobian = relational_jacobian(model.features, small, samples, generator)
    mask = mask_from_ternary(ternarise(jacobian, quantile))
    if mask.shape != (height, width):
        mask = F.interpolate(mask[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    return mask.clamp_(0, 1)


def require_features(model: torch.nn.Module) -> None:
    if not hasattr(model, "features"):
        name = getattr(model, "name", type(model).__name__)
        raise PixelGuardError(f"the relational mask and --method kaa need a model with a feature layer; {name} has none")


@dataclass
class FeatureObjective:
    """loss = -||F(x') - F(x)||_2 / ||F(x)||_2 + l1 term: features pushed away from the clean ones.

    The loop's logits come from the model's head, not the feature layer, so the features are
    computed again from the candidate image."""

    features: Callable[[torch.Tensor], torch.Tensor]
    image: torch.Tensor
    clean_features: torch.Tensor
    budget_l1: float
    l1_weight: float

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        moved = self.features((self.image + perturbation).clamp(0, 1).unsqueeze(0))
        distance = (moved - self.clean_features).norm(dim=-1) / self.clean_features.norm(dim=-1).clamp_min(1e-12)
        return -distance.mean() + l1_penalty(perturbation, self.budget_l1, self.l1_weight)


class KAAMethod(Method):
    name = "kaa"
    summary = "push the model's features away from the photo's, on the relational pixel mask (KAA+ER)"
    title = "Scramble what the model sees"
    paper = "KAA+ER, K-limiting relational attack"
    uses_relational_mask = True

    def plan(self, context: PlanContext) -> AttackPlan:
        require_features(context.model)
        label = label_to_remove(context)
        semantic = context.condition == "semantic"
        related = frozenset(relation_for(context.model).neighbourhood(label)) if semantic else frozenset()
        with torch.no_grad():
            clean_features = context.model.features(context.image.unsqueeze(0))
        objective = FeatureObjective(
            context.model.features, context.image, clean_features, context.budget_l1, context.l1
        )
        condition = make_condition(context.condition, label, context.k, related)
        return AttackPlan(objective, condition, label, report_after=related_report(context.model, label, context.k))
