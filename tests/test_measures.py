"""Top-k measures on hand-made rankings, checked by hand and against scikit-learn."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, ndcg_score

from pixelguard.measures import (
    TopKMeasures,
    average_precision_at_k,
    hidden_in_top_k,
    measure_batch,
    ndcg_at_k,
    precision_at_k,
    ranking_of,
    top_k_accuracy,
)

# Labels 0..7 ranked 3, 0, 5, 1, 7, 2, 4, 6; relevant Y = {0, 1, 2}: hits at ranks 2 and 4.
RANKING = [3, 0, 5, 1, 7, 2, 4, 6]
RELEVANT = {0, 1, 2}


def scores_for(ranking, size):
    """Distinct scores that rank `ranking` first to last."""
    scores = torch.zeros(size)
    for rank, label in enumerate(ranking):
        scores[label] = size - rank
    return scores


def test_precision_at_k_by_hand():
    assert precision_at_k(RANKING, RELEVANT, 1) == 0
    assert precision_at_k(RANKING, RELEVANT, 2) == 1 / 2
    assert precision_at_k(RANKING, RELEVANT, 4) == 2 / 4
    assert precision_at_k(RANKING, RELEVANT, 6) == 3 / 6


def test_average_precision_at_k_by_hand():
    # Hits at ranks 2 and 4 within k = 5: (P@2 + P@4) / min(|Y|, 5) = (1/2 + 2/4) / 3.
    assert average_precision_at_k(RANKING, RELEVANT, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)
    # k = 2 < |Y|: divided by k.
    assert average_precision_at_k(RANKING, RELEVANT, 2) == pytest.approx((1 / 2) / 2)
    assert average_precision_at_k([0, 1, 2, 3], RELEVANT, 3) == 1.0


def test_average_precision_over_the_whole_ranking_matches_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.normal(size=12)
        relevant = set(rng.choice(12, size=rng.integers(1, 6), replace=False).tolist())
        ranking = np.argsort(-scores).tolist()
        truth = np.isin(np.arange(12), list(relevant))
        assert average_precision_at_k(ranking, relevant, 12) == pytest.approx(average_precision_score(truth, scores))


def test_ndcg_by_hand_and_against_sklearn():
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKING, RELEVANT, 5) == pytest.approx(dcg / ideal)
    rng = np.random.default_rng(1)
    for k in (1, 3, 5, 10):
        scores = rng.normal(size=(30, 20))
        truth = rng.random((30, 20)) < 0.2
        truth[:, 0] = True  # no photo without a relevant label
        ours = [ndcg_at_k(np.argsort(-row).tolist(), set(np.flatnonzero(t).tolist()), k)
                for row, t in zip(scores, truth)]
        assert np.mean(ours) == pytest.approx(ndcg_score(truth, scores, k=k))


def test_top_k_accuracy_rule():
    # k > |Y|: every relevant label must be in the top k.
    assert top_k_accuracy([0, 1, 2, 9, 8], RELEVANT, 5) == 1
    assert top_k_accuracy([0, 1, 9, 8, 7], RELEVANT, 5) == 0
    # k <= |Y|: every top-k label must be relevant.
    assert top_k_accuracy([2, 0], RELEVANT, 2) == 1
    assert top_k_accuracy([2, 7], RELEVANT, 2) == 0
    assert top_k_accuracy([2, 0, 1], RELEVANT, 3) == 1


def test_hidden_in_top_k():
    assert hidden_in_top_k(RANKING, {3, 1}, 4) == 2
    assert hidden_in_top_k(RANKING, {3, 1}, 3) == 1
    assert hidden_in_top_k(RANKING, {6}, 5) == 0


def test_ranking_of_scores():
    scores = scores_for(RANKING, 8)
    assert ranking_of(scores, 3) == RANKING[:3]
    measures = TopKMeasures.of(ranking_of(scores, 5), RELEVANT, 5)
    assert measures.precision == 2 / 5 and measures.topk_accuracy == 0


def test_measure_batch_before_and_after():
    k = 3
    before = torch.stack([scores_for([0, 1, 2, 3, 4, 5], 6), scores_for([2, 0, 1, 3, 4, 5], 6)])
    # Photo 1: hidden 0 pushed out and 3 took its place. Photo 2: hidden 2 still there.
    after = torch.stack([scores_for([1, 2, 3, 0, 4, 5], 6), scores_for([0, 2, 1, 3, 4, 5], 6)])
    relevant = [{0, 1, 2}, {0, 1, 2}]
    hidden = [{0}, {2}]
    perturbations = [torch.full((3, 2, 2), 0.5), torch.ones(3, 2, 2)]
    result = measure_batch(before, after, relevant, hidden, k, perturbations)
    assert result.before == TopKMeasures(1.0, 1.0, 1.0, 1.0)
    # Photo 1 after: 1, 2, 3 -> P@3 = 2/3; AP@3 = (1 + 1) / 3; photo 2 unchanged set.
    assert result.after.precision == pytest.approx((2 / 3 + 1) / 2)
    assert result.after.average_precision == pytest.approx((2 / 3 + 1) / 2)
    assert result.after.topk_accuracy == pytest.approx(0.5)
    assert result.delta_n == pytest.approx(0.5)
    assert result.hidden_removed_share == pytest.approx(0.5)
    assert result.success_rate == pytest.approx(0.5)
    assert result.aper == pytest.approx(float(perturbations[0].norm()))  # only the success counts


def test_report_fields_are_flat():
    fields = TopKMeasures(1.0, 0.8, 0.75, 0.9).as_fields("after")
    assert fields == {"topk_accuracy_after": 1.0, "precision_at_k_after": 0.8, "ap_at_k_after": 0.75,
                      "ndcg_at_k_after": 0.9}
