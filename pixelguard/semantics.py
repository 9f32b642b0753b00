"""Semantic relatedness between the labels of a known label set.

Fooling "bedroom" into "hotel room" protects nothing: both still reveal a home. A relation
says which labels give away the same thing, so a protection can count only when no top-k
prediction is related to the truth (Zhao, Dang, Larson).

- Places365: two scenes are related when they share a level-2 group of CSAIL's scene
  hierarchy (a scene may sit in several), or the same base name (church/indoor, church/outdoor).
- ImageNet: see `imagenet_relation` for the rule on WordNet class paths.

Every label is related to itself. The relation is built once per label set and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch

from pixelguard.errors import PixelGuardError
from pixelguard.labels import find_label
from pixelguard.models import datapacks
from pixelguard.models.datapacks import SceneGroups


# ImageNet rule, chosen by looking at the WordNet paths (docs/labelfool-and-semantics.md):
# the lowest common ancestor (LCA) must cover at most this many of the 1000 classes, which
# rules out the root, 'artifact', 'animal', 'mammal' and 'carnivore' (158) ...
MAX_ANCESTOR_CLASSES = 150
# ... and be close to both classes (at most two levels above each: 'sandwich', 'shore') ...
MAX_LEVELS_ABOVE = 2
# ... or lie this deep, where WordNet names one kind of thing: 'bird', 'reptile', 'insect',
# 'wheeled vehicle', 'garment', 'canine'. Dog breeds sit up to 5 levels below 'dog'.
SPECIFIC_DEPTH = 5

# The data packs each label set's relation is built from.
LABEL_SET_PACKS = {
    "imagenet": ("imagenet-class-paths",),
    "places365": ("places365-categories", "places365-hierarchy"),
}


@dataclass(frozen=True, eq=False)
class SemanticRelation:
    """A symmetric, reflexive "gives away the same thing" relation over one label set."""

    label_set: str  # "imagenet" or "places365"
    labels: tuple[str, ...]
    matrix: torch.Tensor  # (C, C) bool, True where two labels are related

    def index(self, label: int | str) -> int:
        return label if isinstance(label, int) else find_label(list(self.labels), label)

    def related(self, a: int | str, b: int | str) -> bool:
        return bool(self.matrix[self.index(a), self.index(b)])

    def neighbourhood(self, label: int | str) -> list[int]:
        """R(label): the indices of every label related to it, itself included."""
        return self.matrix[self.index(label)].nonzero().flatten().tolist()

    def related_in_top_k(self, logits: torch.Tensor, label: int, k: int) -> int:
        """How many of the k highest-scoring classes of `logits` (C,) are related to `label`."""
        return len(self.related_top_k(logits, label, k))

    def related_top_k(self, logits: torch.Tensor, label: int, k: int) -> list[str]:
        """The k highest-scoring classes of `logits` (C,) that are related to `label`, best first."""
        top = logits.topk(min(k, logits.shape[-1])).indices.cpu().tolist()
        return [self.labels[index] for index in top if self.matrix[label, index]]

    def report_after(self, label: int, k: int) -> Callable[[torch.Tensor], dict]:
        """A report hook: `related_in_topk` (and their names, `related_left`) on the saved file's logits."""
        def fields(logits: torch.Tensor) -> dict:
            names = self.related_top_k(logits, label, k)
            return {"related_in_topk": len(names), "related_left": names}
        return fields


def places365_relation(labels: Sequence[str], groups: Sequence[SceneGroups]) -> SemanticRelation:
    """Related: a shared level-2 group, or the same name before '/' (church/indoor, church/outdoor)."""
    names = sorted({group for scene in groups for group in scene.level2})
    membership = torch.zeros(len(labels), len(names))
    for row, scene in enumerate(groups):
        for group in scene.level2:
            membership[row, names.index(group)] = 1
    shared_group = (membership @ membership.T) > 0
    base_names = [label.split("/")[0] for label in labels]
    same_base = torch.tensor([[a == b for b in base_names] for a in base_names])
    return SemanticRelation("places365", tuple(labels), shared_group | same_base)


def imagenet_relation(labels: Sequence[str], paths: Sequence[Sequence[str]]) -> SemanticRelation:
    """Related: the lowest common ancestor of the two WordNet paths covers at most 150
    classes and is either at most two levels above both classes, or at depth 5 or deeper.

    A node is identified by its whole path from the root, since WordNet reuses names
    ('crane' the bird and the machine). Depth counts from the root (depth 0).
    """
    node_ids: dict[tuple[str, ...], int] = {}
    longest = max(len(path) for path in paths)
    # ids[c, d] = the node at depth d on class c's path; -1 - c pads, so padding never matches.
    ids = np.empty((len(paths), longest), dtype=np.int64)
    for row, path in enumerate(paths):
        ids[row] = -1 - row
        for depth in range(len(path)):
            ids[row, depth] = node_ids.setdefault(tuple(path[: depth + 1]), len(node_ids))
    classes_under = np.bincount(ids[ids >= 0], minlength=len(node_ids))
    lengths = np.array([len(path) for path in paths])

    # Paths share a prefix, so the number of equal positions is the LCA's depth + 1.
    shared = (ids[:, None, :] == ids[None, :, :]).sum(axis=2)
    rows = np.arange(len(paths))[:, None]
    ancestor = ids[rows, np.maximum(shared - 1, 0)]
    levels_above = np.maximum(lengths[:, None], lengths[None, :]) - shared
    close = levels_above <= MAX_LEVELS_ABOVE
    deep = shared - 1 >= SPECIFIC_DEPTH
    related = (shared > 0) & (classes_under[ancestor] <= MAX_ANCESTOR_CLASSES) & (close | deep)
    np.fill_diagonal(related, True)
    return SemanticRelation("imagenet", tuple(labels), torch.from_numpy(related))


@lru_cache(maxsize=None)
def load_relation(label_set: str) -> SemanticRelation:
    """The relation of a known label set, from the cached data packs (downloaded when missing)."""
    if label_set == "places365":
        return places365_relation(datapacks.places365_categories(), datapacks.places365_hierarchy())
    if label_set == "imagenet":
        return imagenet_relation(datapacks.imagenet_categories(), datapacks.imagenet_class_paths())
    raise PixelGuardError(f"no semantic relation for the label set '{label_set}'")


def label_set_of(model: torch.nn.Module, *, download: bool = True) -> str | None:
    """'imagenet' or 'places365' for registry models, and for model files whose labels are
    exactly one of those sets; None for any other labels (or, without `download`, when the
    Places365 names needed to tell are not cached)."""
    entry = getattr(model, "entry", None)
    if entry is not None:
        return entry.labels
    labels = list(model.labels)
    if len(labels) == 1000 and labels == datapacks.imagenet_categories():
        return "imagenet"
    if len(labels) == 365 and (download or datapacks.has_datapack("places365-categories")):
        if labels == datapacks.places365_categories():
            return "places365"
    return None


def relation_for(model: torch.nn.Module) -> SemanticRelation:
    """The relation over the model's labels; a clear error when its label set is unknown."""
    label_set = label_set_of(model)
    if label_set is None:
        name = getattr(model, "name", type(model).__name__)
        raise PixelGuardError(
            f"semantic features need a known label set (ImageNet-1k or Places365); model {name} "
            f"has {len(model.labels)} labels of its own"
        )
    return load_relation(label_set)


def cached_relation_for(model: torch.nn.Module) -> SemanticRelation | None:
    """The relation when the model's label set is known and its data packs are already cached.

    For optional report fields: never downloads, never fails.
    """
    try:
        label_set = label_set_of(model, download=False)
        if label_set is None or not all(
            datapacks.has_datapack(pack) for pack in LABEL_SET_PACKS[label_set]
        ):
            return None
        return load_relation(label_set)
    except PixelGuardError:
        return None


def related_report(model: torch.nn.Module, label: int, k: int) -> Callable[[torch.Tensor], dict] | None:
    """AttackPlan.report_after giving `related_in_topk`, for any method, where semantics are cached."""
    relation = cached_relation_for(model)
    return None if relation is None else relation.report_after(label, k)

