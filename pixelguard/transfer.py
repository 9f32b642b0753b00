"""Transfer to unseen classifiers and robustness to uploads.

DI: Xie et al., "Improving Transferability of Adversarial Examples with Input Diversity",
CVPR 2019, arXiv:1803.06978. EOT: Athalye, Engstrom, Ilyas, Kwok, "Synthesizing Robust
Adversarial Examples", ICML 2018, arXiv:1707.07397. MI and TI: pixelguard.attacks.optimisers.

Everything here plugs into the shared attack loop without changing it:
- model wrappers the loop attacks instead of the plain model: `Ensemble` (average logits of
  several classifiers), `InputDiversity` (DI) and `UploadTransforms` (EOT over JPEG, downscaling
  and small crops);
- `MomentumIterative`, the MI optimiser with optional TI gradient smoothing;
- `MarginObjective`, the logit-margin loss;
- `ConfidentCondition`, a stricter stop for the loop so a protection keeps a margin to spare.

Images are (B,3,H,W) in [0,1] at native resolution; each classifier resizes internally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from pixelguard.attacks.conditions import Condition
from pixelguard.attacks.loop import Optimiser
from pixelguard.attacks.objectives import l1_penalty
from pixelguard.attacks.optimisers import TRANSFER_MOMENTUM, TRANSFER_STEP
from pixelguard.errors import PixelGuardError
from pixelguard.models.ensembles import ensemble_member_names
from pixelguard.views import Jpeg, Resize, resize_tensor

if TYPE_CHECKING:
    from pixelguard.attacks.base import AttackPlan, PlanContext
    from pixelguard.settings import LoopSettings, ProtectSettings

# Named ensembles for --model; only models that work offline, so the presets always load.
# Section 7's published settings (Linf eps 16/255 becomes the pT budget, see the docs).
TRANSFER_ITERATIONS = 300
# The loop stops only once the label trails by this many logits (measured: docs).
TRANSFER_CONFIDENCE = 10.0
DI_PROBABILITY = 0.7
DI_GROWTH = 1.1  # resize to [s, 1.1 s], pad to 1.1 s
# DI works on a copy downscaled to this shorter side: above every registry model's resize
# (256..292 px), so no model loses detail, and cheap at any photo size.
DI_WORKING_SIZE = 320

# EOT: what uploads do. Long sides platforms downscale to, JPEG qualities they re-encode at,
# and how much of each side a small crop keeps.
UPLOAD_LONG_SIDES = (2048, 1080)
EOT_JPEG_QUALITIES = (60, 95)
EOT_CROP_KEEP = 0.9


class Ensemble(nn.Module):
    """Average of several classifiers' logits; each member preprocesses the photo its own way."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise PixelGuardError("an ensemble needs at least two models")
        labels = list(members[0].labels)
        for member in members[1:]:
            if list(member.labels) != labels:
                raise PixelGuardError(
                    f"models {_name(members[0])} and {_name(member)} have different labels "
                    f"({len(labels)} vs {len(member.labels)} classes); an ensemble needs one label set, "
                    "e.g. ImageNet models together"
                )
        self.members = nn.ModuleList(members)
        self.labels = labels
        self.name = "+".join(_name(member) for member in members)
        entries = [getattr(member, "entry", None) for member in members]
        # The semantic relation only needs the label set, which the members share.
        self.entry = entries[0] if all(entry is not None for entry in entries) else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(images) for member in self.members]).mean(dim=0)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Every member's penultimate features, concatenated (B, sum of D)."""
        return torch.cat([member.features(images) for member in self.members], dim=1)


def _name(model: nn.Module) -> str:
    return getattr(model, "name", type(model).__name__)


def load_models(spec: str, device: str | torch.device = "cpu", progress=None, **model_file_options) -> nn.Module:
    """One registry model / model file, or an Ensemble for 'a,b,c' or a preset name."""
    from pixelguard.models import load_model

    names = ensemble_member_names(spec)
    if len(names) == 1:
        return load_model(names[0], device=device, progress=progress, **model_file_options)
    return Ensemble([load_model(name, device=device, progress=progress) for name in names])


def _random_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _randint(generator: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high]."""
    return int(torch.randint(low, high + 1, (), generator=generator))


class InputDiversity(nn.Module):
    """DI (Xie et al.): with probability p, resize to a random size in [s, 1.1 s] and zero-pad to
    1.1 s at a random offset, then classify. s = the photo downscaled to DI_WORKING_SIZE."""

    def __init__(self, model: nn.Module, probability: float = DI_PROBABILITY, seed: int = 0,
                 working_size: int = DI_WORKING_SIZE):
        super().__init__()
        self.model = model
        self.labels = model.labels
        self.probability = probability
        self.working_size = working_size
        self.generator = _random_generator(seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if _uniform(self.generator, 0, 1) >= self.probability:
            return self.model(images)
        height, width = images.shape[-2:]
        scale = min(1.0, self.working_size / min(height, width))
        base = (max(1, round(height * scale)), max(1, round(width * scale)))
        canvas = (math.ceil(base[0] * DI_GROWTH), math.ceil(base[1] * DI_GROWTH))
        growth = _uniform(self.generator, 1.0, DI_GROWTH)
        size = (min(canvas[0], round(base[0] * growth)), min(canvas[1], round(base[1] * growth)))
        top = _randint(self.generator, 0, canvas[0] - size[0])
        left = _randint(self.generator, 0, canvas[1] - size[1])
        resized = resize_tensor(images, size, "bicubic", antialias=True)
        padded = F.pad(resized, (left, canvas[1] - size[1] - left, top, canvas[0] - size[0] - top))
        return self.model(padded)


def random_crop(images: torch.Tensor, generator: torch.Generator, keep: float = EOT_CROP_KEEP) -> torch.Tensor:
    """A crop keeping a random fraction in [keep, 1] of each side, at a random place."""
    height, width = images.shape[-2:]
    crop_h = _randint(generator, max(1, math.ceil(height * keep)), height)
    crop_w = _randint(generator, max(1, math.ceil(width * keep)), width)
    top = _randint(generator, 0, height - crop_h)
    left = _randint(generator, 0, width - crop_w)
    return images[..., top : top + crop_h, left : left + crop_w]


class UploadTransforms(nn.Module):
    """EOT over what an upload does: the logits averaged over the photo as it is plus, each
    forward pass, a fresh random draw of each upload transform (differentiable throughout):
    - a downscale to a typical upload size (2048 or 1080 px long side) followed by JPEG;
    - JPEG at a random quality in [60, 95] (straight-through around the real encoder);
    - a small random crop (at least 90 % of each side kept).
    Keeping the untransformed view means the loop never trades the saved file for the others.
    """

    def __init__(self, model: nn.Module, seed: int = 0):
        super().__init__()
        self.model = model
        self.labels = model.labels
        self.generator = _random_generator(seed)

    def views(self, images: torch.Tensor) -> list[torch.Tensor]:
        quality = _randint(self.generator, *EOT_JPEG_QUALITIES)
        long_side = UPLOAD_LONG_SIDES[_randint(self.generator, 0, len(UPLOAD_LONG_SIDES) - 1)]
        resized_quality = _randint(self.generator, *EOT_JPEG_QUALITIES)
        return [
            images,
            Jpeg(quality).apply(images),
            Jpeg(resized_quality).apply(Resize("long", long_side, "bicubic").apply(images)),
            random_crop(images, self.generator),
        ]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.model(view) for view in self.views(images)]).mean(dim=0)


def condition_rank(condition: Condition) -> int:
    """How many classes the label must fall behind for the condition: the k of a top-k
    condition (NotInTopK, SemanticMismatch, TkMIA's TagsHidden), else 1."""
    return getattr(condition, "k", 1)


def label_margin(logits: torch.Tensor, label: int, rank: int) -> torch.Tensor:
    """z_label - (rank-th largest logit among the other classes), per row of (B,C) logits.

    Negative exactly when the label is out of the top `rank`."""
    others = logits.clone()
    others[:, label] = float("-inf")
    threshold = others.topk(min(rank, logits.shape[-1] - 1), dim=-1).values[:, -1]
    return logits[:, label] - threshold


@dataclass
class MarginObjective:
    """The logit-margin loss (untargeted Logit/CW loss): margin of the label over the k-th other
    class, minimised, plus the same L1 term as the colour-variance objective."""

    label: int
    rank: int
    budget_l1: float
    l1_weight: float = 0.0

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        return label_margin(logits, self.label, self.rank).mean() + l1_penalty(
            perturbation, self.budget_l1, self.l1_weight)


@dataclass(frozen=True)
class ConfidentCondition(Condition):
    """`base` holds and the label trails the rank-th other class by at least `confidence` logits.

    Used only as the loop's stop: a protection that just scrapes past the local model rarely
    transfers or survives JPEG, so the loop keeps pushing; verification uses `base`."""

    base: Condition
    rank: int
    confidence: float

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return self.base(logits) & (label_margin(logits, self.label, self.rank) <= -self.confidence)

    def describe(self, labels: list[str]) -> str:
        return self.base.describe(labels)


def confident(condition: Condition, confidence: float) -> Condition:
    if confidence <= 0:
        return condition
    return ConfidentCondition(condition.label, condition, condition_rank(condition), confidence)


def transfer_preset(settings: "ProtectSettings") -> "ProtectSettings":
    """Section 7's published settings: MI (momentum 1) + TI + DI on the model's own pipeline,
    step 2/255, 300 iterations, the margin loss where it applies, no L1 term, and a confidence
    margin for the stop."""
    return replace(
        settings, momentum=TRANSFER_MOMENTUM, ti=True, di=True, views="model",
        loss="margin" if settings.build().margin_applies else settings.loss,
        max_iter=max(settings.max_iter, TRANSFER_ITERATIONS), l1=0.0,
        confidence=settings.confidence or TRANSFER_CONFIDENCE,
    )


def loop_optimiser(loop: "LoopSettings") -> Optimiser | None:
    """MI sign steps when a momentum is set; None leaves the choice to the method (Adam)."""
    if loop.momentum <= 0:
        return None
    return Optimiser(kind="mi", lr=TRANSFER_STEP, momentum=loop.momentum, translation_invariant=loop.ti)


def attack_model(model: nn.Module, loop: "LoopSettings") -> nn.Module:
    """What the loop attacks: the model behind DI and/or EOT (each view goes through DI)."""
    if loop.di:
        model = InputDiversity(model, seed=loop.seed)
    if loop.eot:
        model = UploadTransforms(model, seed=loop.seed)
    return model


def with_loss(plan: "AttackPlan", context: "PlanContext", loop: "LoopSettings") -> "AttackPlan":
    """The plan with the margin objective in place of its own when the settings ask for it."""
    if loop.loss != "margin":
        return plan
    objective = MarginObjective(plan.label, condition_rank(plan.condition), context.budget_l1, loop.l1)
    return replace(plan, objective=objective)


