"""Top-k ranking measures a tagging platform watches (as defined by TkMIA: Sun et al., ACM MM 2023).

A ranking is a sequence of label indices, best first; `relevant` is the photo's label set Y.
Relevance is binary. The definitions follow TkMIA (Sun et al., ACM MM 2023): TkAcc, P@k,
AP@k (averaged over photos: mAP@k), NDCG@k, Delta N and APer.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from statistics import mean

import torch


def ranking_of(scores: torch.Tensor, k: int) -> list[int]:
    """The k best label indices of a (C,) score vector, best first."""
    return scores.topk(min(k, scores.shape[-1])).indices.tolist()


def top_k_accuracy(ranking: Sequence[int], relevant: Collection[int], k: int) -> float:
    """1 when the top k agrees with Y as far as sizes allow: Y inside T_k if k > |Y|, else T_k inside Y."""
    top = set(ranking[:k])
    return float(set(relevant) <= top if k > len(relevant) else top <= set(relevant))


def precision_at_k(ranking: Sequence[int], relevant: Collection[int], k: int) -> float:
    """|T_k cap Y| / k."""
    return sum(label in relevant for label in ranking[:k]) / k


def average_precision_at_k(ranking: Sequence[int], relevant: Collection[int], k: int) -> float:
    """(1 / min(|Y|, k)) * sum over ranks j <= k of P@j * rel(j)."""
    hits, total = 0, 0.0
    for rank, label in enumerate(ranking[:k], start=1):
        if label in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k) if relevant else 0.0


def ndcg_at_k(ranking: Sequence[int], relevant: Collection[int], k: int) -> float:
    """DCG@k / IDCG@k with binary relevance and the log2(rank + 1) discount."""
    dcg = sum(1 / math.log2(rank + 1) for rank, label in enumerate(ranking[:k], start=1) if label in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def hidden_in_top_k(ranking: Sequence[int], hidden: Collection[int], k: int) -> int:
    """|S cap T_k|: how many of the labels to hide are still among the top k."""
    return sum(label in hidden for label in ranking[:k])


@dataclass(frozen=True)
class TopKMeasures:
    """The measures of one ranking (or their means over photos)."""

    topk_accuracy: float
    precision: float  # P@k
    average_precision: float  # AP@k; its mean over photos is mAP@k
    ndcg: float  # NDCG@k

    @classmethod
    def of(cls, ranking: Sequence[int], relevant: Collection[int], k: int) -> "TopKMeasures":
        return cls(
            top_k_accuracy(ranking, relevant, k),
            precision_at_k(ranking, relevant, k),
            average_precision_at_k(ranking, relevant, k),
            ndcg_at_k(ranking, relevant, k),
        )

    @classmethod
    def mean_of(cls, measures: Sequence["TopKMeasures"]) -> "TopKMeasures":
        return cls(*(mean(getattr(m, name) for m in measures) for name in cls.__dataclass_fields__))

    def as_fields(self, suffix: str) -> dict[str, float]:
        """Flat report fields, e.g. precision_at_k_before."""
        return {
            f"topk_accuracy_{suffix}": round(self.topk_accuracy, 6),
            f"precision_at_k_{suffix}": round(self.precision, 6),
            f"ap_at_k_{suffix}": round(self.average_precision, 6),
            f"ndcg_at_k_{suffix}": round(self.ndcg, 6),
        }


@dataclass(frozen=True)
class BatchMeasures:
    """Measures before and after an attack on a batch of photos."""

    before: TopKMeasures  # means over the photos (precision: P@k, average_precision: mAP@k)
    after: TopKMeasures
    delta_n: float  # mean over photos of |S cap T_k(x)| - |S cap T_k(x')|
    hidden_removed_share: float  # removed hidden labels / hidden labels in the clean top k
    success_rate: float  # share of photos whose hidden labels all left the top k
    aper: float | None  # mean L2 norm of the perturbation over successful photos


def measure_batch(
    scores_before: torch.Tensor,
    scores_after: torch.Tensor,
    relevant: Sequence[Collection[int]],
    hidden: Sequence[Collection[int]],
    k: int,
    perturbations: Sequence[torch.Tensor] | None = None,
) -> BatchMeasures:
    """All measures for a batch: scores (B,C) on the clean and attacked photos, Y and S per photo.

    Success for a photo is Delta N reaching |S cap T_k(x)|, i.e. no hidden label left in the
    top k. perturbations: x' - x per photo, for APer.
    """
    before, after, delta_n, present, succeeded = [], [], [], [], []
    for clean, attacked, labels, to_hide in zip(scores_before, scores_after, relevant, hidden):
        ranking, new_ranking = ranking_of(clean, k), ranking_of(attacked, k)
        before.append(TopKMeasures.of(ranking, labels, k))
        after.append(TopKMeasures.of(new_ranking, labels, k))
        present.append(hidden_in_top_k(ranking, to_hide, k))
        delta_n.append(present[-1] - hidden_in_top_k(new_ranking, to_hide, k))
        succeeded.append(delta_n[-1] == present[-1])
    norms = [float(p.float().norm()) for p, ok in zip(perturbations or (), succeeded) if ok]
    return BatchMeasures(
        before=TopKMeasures.mean_of(before),
        after=TopKMeasures.mean_of(after),
        delta_n=mean(delta_n),
        hidden_removed_share=sum(delta_n) / sum(present) if sum(present) else 1.0,
        success_rate=mean(succeeded),
        aper=mean(norms) if norms else None,
    )
