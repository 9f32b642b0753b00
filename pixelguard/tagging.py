"""Any registry model as a tagger: ranked label scores, the tags to hide and the ones to keep.

Single-label classifiers serve as rankers (softmax scores); multi-label models score each
label with a sigmoid (Classifier.task tells which). Either way the ranking is the ranking of
the logits, so attacks work on logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pixelguard.errors import PixelGuardError
from pixelguard.labels import find_label
from pixelguard.models.classifier import scores_from_logits


@dataclass(frozen=True)
class Tag:
    index: int  # the model's output index
    label: str
    score: float  # softmax probability (single-label) or sigmoid score (multi-label)


def ranked_tags(model: torch.nn.Module, labels: list[str], logits: torch.Tensor, k: int) -> list[Tag]:
    """The k best tags for a (C,) logit vector, best first."""
    scores = scores_from_logits(logits, getattr(model, "task", "single-label"))
    values, indices = scores.topk(min(k, scores.shape[-1]))
    return [Tag(i, labels[i], float(s)) for s, i in zip(values.tolist(), indices.tolist())]


@torch.no_grad()
def current_tags(model: torch.nn.Module, image: torch.Tensor, k: int = 5) -> list[Tag]:
    """The photo's k tags with scores, best first: what a tagger shows (GUI check boxes, inspect --tags).

    image: (3,H,W) in [0,1] on the model's device.
    """
    return ranked_tags(model, list(model.labels), model(image.unsqueeze(0))[0], k)


@dataclass(frozen=True)
class TagSelection:
    """Y, the photo's relevant tags (the clean top k), and S, the tags to hide."""

    relevant: tuple[int, ...]  # Y, best first
    hidden: tuple[int, ...]  # S: every hidden label, inside the top k or not
    k: int

    @property
    def kept(self) -> tuple[int, ...]:
        """Ybar = Y minus S: the tags that should fill the top k instead."""
        return tuple(label for label in self.relevant if label not in self.hidden)

    @property
    def to_remove(self) -> tuple[int, ...]:
        """Hidden labels among the clean top k: the ones the attack must push out."""
        return tuple(label for label in self.hidden if label in self.relevant)

    @property
    def already_hidden(self) -> tuple[int, ...]:
        """Hidden labels that are not among the clean top k (they must only stay out)."""
        return tuple(label for label in self.hidden if label not in self.relevant)


def tag_indices(labels: list[str], names: Sequence[str]) -> tuple[int, ...]:
    """Output indices of tag names (any case, duplicates dropped); a misspelling fails with suggestions."""
    return tuple(dict.fromkeys(find_label(labels, name) for name in names))


def select_tags(labels: list[str], clean_logits: torch.Tensor, hidden: Sequence[int], k: int) -> TagSelection:
    """Check the tags to hide (output indices) against the photo's clean top k.

    A hidden label outside the top k is already hidden and only has to stay out; when none of
    them is in the top k there is nothing to hide, which is an error (the photo would be saved
    unchanged).
    """
    if not hidden:
        raise PixelGuardError("no tags to hide; name them with --hide \"label1,label2\"")
    relevant = tuple(clean_logits.topk(min(k, clean_logits.shape[-1])).indices.tolist())
    selection = TagSelection(relevant, tuple(dict.fromkeys(hidden)), k)
    if not selection.to_remove:
        wanted = ", ".join(f"'{labels[i]}'" for i in selection.hidden)
        current = ", ".join(f"'{labels[i]}'" for i in relevant)
        raise PixelGuardError(f"nothing to hide: {wanted} not among this photo's top {k} tags ({current})")
    return selection
