"""TkMIA: hide chosen tags from a top-k tagger while the tag list still looks natural.

Sun et al., ACM MM 2023. The hidden tags S are pushed below the
k-th score while the photo's other tags Ybar are kept above it, so the top-k measures a
platform watches barely move. The loss is the convex average-top-K form with the auxiliary
variables set in closed form each step, minimised by SGD with momentum in tanh space under
the colour-variance budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from pixelguard.attacks.base import AttackPlan, Method, PlanContext, option
from pixelguard.attacks.conditions import Condition
from pixelguard.attacks.loop import Optimiser
from pixelguard.errors import PixelGuardError
from pixelguard.measures import TopKMeasures, ranking_of
from pixelguard.tagging import TagSelection, select_tags, tag_indices

# lambda, the weight of ||delta||^2 (v in [0,1] pixel units), from the paper's 1e-3 ... 5e-5
# grid. Measured: no effect here (1e-4 to 1e-1 give the same results), as the budget pT and
# the early stop, not lambda, keep the perturbation small.
DEFAULT_L2_WEIGHT = 1e-3
# The paper's inputs are 224 x 224. The model sees a photo resized to about that size, so the
# gradient of the scores per photo pixel shrinks with the photo's area; the score terms are
# scaled by (H*W) / REFERENCE_AREA so that SGD moves each pixel as far as at 224 px.
REFERENCE_AREA = 224 * 224
# SGD with momentum 0.9 on w (tanh space), as in the paper. The paper's lr (1e-3 ... 5e-5)
# never moves a pixel by one 8-bit level, so every step would be quantised away. Measured on
# the real photos (docs/tkmia.md): lr 0.01 hides 2/6 in 60 steps, 0.03 6/6 in 14 steps, 0.1
# 6/6 in 4 steps with the same drop in the measures, 1.0 overshoots and drops P@k 0.77 -> 0.43.
TKMIA_OPTIMISER = Optimiser("sgd", lr=0.1, momentum=0.9, tanh_space=True)


def average_top(values: torch.Tensor, count: int) -> torch.Tensor:
    """Mean of the `count` largest values per row, as min_t { t + (1/count) sum_i [v_i - t]_+ }.

    The minimising t is the count-th largest value, set in closed form (no gradient through
    it: at the optimum the loss is flat in t).
    """
    threshold = values.detach().topk(count, dim=-1).values[..., -1:]
    return threshold[..., 0] + (values - threshold).clamp(min=0).sum(dim=-1) / count


def area_scale(perturbation: torch.Tensor) -> float:
    """(H*W) / REFERENCE_AREA for a (3,H,W) perturbation."""
    return perturbation.shape[-2] * perturbation.shape[-1] / REFERENCE_AREA


@dataclass
class TkmiaObjective:
    """lambda*||v||^2 + area_scale * (ATk_{m-k}(psi) + ATk_k(phi)) on the logits f.

    psi_j = max_S f - f_j: its top-(m-k) average is max_S f - the mean of the bottom m-k
    scores. phi_j = f_j - min_Ybar f: its top-k average is the mean of the top-k scores -
    min_Ybar f. Logits rank like softmax or sigmoid scores and, for a single-label model, give
    exactly the log-softmax loss, since only score differences appear.
    """

    hidden: tuple[int, ...]
    kept: tuple[int, ...]
    k: int
    l2_weight: float = DEFAULT_L2_WEIGHT
    optimiser: ClassVar[Optimiser] = TKMIA_OPTIMISER

    def __call__(self, logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
        top_hidden = logits[:, list(self.hidden)].max(dim=-1, keepdim=True).values
        loss = average_top(top_hidden - logits, logits.shape[-1] - self.k)
        if self.kept:
            lowest_kept = logits[:, list(self.kept)].min(dim=-1, keepdim=True).values
            loss = loss + average_top(logits - lowest_kept, self.k)
        return area_scale(perturbation) * loss.sum() + self.l2_weight * perturbation.square().sum()


@dataclass(frozen=True)
class TagsHidden(Condition):
    """Every hidden label is outside the top k (Delta N reaches |S cap T_k(x)|)."""

    hidden: tuple[int, ...] = ()
    k: int = 5

    name = "tags-hidden"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        top = logits.topk(min(self.k, logits.shape[-1]), dim=-1).indices
        hidden = torch.tensor(self.hidden, device=logits.device)
        return ~(top.unsqueeze(-1) == hidden).any(dim=-1).any(dim=-1)

    def describe(self, labels: list[str]) -> str:
        names = " and ".join(f"'{labels[i]}'" for i in self.hidden)
        verb = "is" if len(self.hidden) == 1 else "are"
        return f"{names} {verb} no longer among the top {self.k} tags"


@dataclass(frozen=True)
class TagOptions:
    """The tag methods' choice: which tags to hide."""

    hide: tuple[str, ...] = option((), "the tags to hide", "list", names_labels=True)


def labels_to_hide(context: PlanContext) -> tuple[int, ...]:
    """--hide, else --label, else the photo's top tag."""
    names = context.options.hide or ((context.label,) if context.label else ())
    return tag_indices(context.labels, names) if names else (int(context.clean_logits.argmax()),)


def checked_k(context: PlanContext) -> int:
    k = context.k
    if k >= len(context.labels):
        raise PixelGuardError(f"--k must be smaller than the model's {len(context.labels)} labels, got {k}")
    return k


def tag_plan(context: PlanContext, selection: TagSelection, objective) -> AttackPlan:
    """The plan both tag-hiding methods share: their condition and report fields."""
    labels, k = context.labels, selection.k
    relevant = set(selection.relevant)

    def names(indices) -> list[str]:
        return [labels[i] for i in indices]

    details = {
        "k": k,
        "hidden": names(selection.hidden),
        "relevant": names(selection.relevant),
        "already_hidden": names(selection.already_hidden),
        **TopKMeasures.of(list(selection.relevant), relevant, k).as_fields("before"),
    }

    def report_after(saved_logits: torch.Tensor) -> dict:
        top = ranking_of(saved_logits, k)
        removed = [i for i in selection.to_remove if i not in top]
        return {
            "hidden_removed": names(removed),
            "kept_in_topk": names(i for i in selection.kept if i in top),
            **TopKMeasures.of(top, relevant, k).as_fields("after"),
        }

    label = selection.to_remove[0]
    return AttackPlan(objective, TagsHidden(label, hidden=selection.hidden, k=k), label, details, report_after)


class TkmiaMethod(Method):
    name = "tkmia"
    summary = "hide chosen tags from the top k while the other tags stay (TkMIA)"
    title = "Hide chosen tags"
    paper = "TkMIA (Sun et al., ACM MM 2023)"
    options_type = TagOptions
    conditions = (TagsHidden.name,)

    def needs_hierarchy(self, condition: str, options: TagOptions) -> bool:
        return False

    def plan(self, context: PlanContext) -> AttackPlan:
        k = checked_k(context)
        selection = select_tags(context.labels, context.clean_logits, labels_to_hide(context), k)
        return tag_plan(context, selection, TkmiaObjective(selection.hidden, selection.kept, k))
