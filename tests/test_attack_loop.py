"""The shared attack loop, the conditions and the colour-variance objective, on a toy model."""

import pytest
import torch

from pixelguard.attacks.conditions import NotInTopK, Top1Margin, make_condition
from pixelguard.attacks.cvpire import ColourVarianceObjective
from pixelguard.attacks.loop import AttackCancelled, quantise_toward_zero_, run_attack
from pixelguard.errors import PixelGuardError
from toy_models import ToyClassifier


@pytest.fixture
def image():
    generator = torch.Generator().manual_seed(1)
    return (torch.rand(3, 32, 32, generator=generator) * 255).round() / 255


def test_conditions_on_hand_made_logits():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0]])
    assert not NotInTopK(0, k=1)(logits)[0]
    assert NotInTopK(1, k=1)(logits)[0]
    assert not NotInTopK(4, k=5)(logits)[0]
    assert NotInTopK(5, k=5)(logits)[0]
    # p0 = 0.63, p1 = 0.23: gap (0.63 - 0.23) / 0.63 = 0.63 >= 0.5 for label 1, but top-1 is 0.
    assert not Top1Margin(0)(logits)[0]
    assert Top1Margin(1)(logits)[0]
    close = torch.tensor([[1.0, 0.9, -5.0]])
    assert not Top1Margin(1)(close)[0]  # top-1 changed but only by a hair
    assert NotInTopK(1, k=1)(close)[0]


def test_condition_names_and_errors():
    assert make_condition("top1", 3).name == "top1"
    assert make_condition("top5", 3).name == "top5"
    assert make_condition("top1-margin", 3).name == "top1-margin"
    with pytest.raises(PixelGuardError, match="unknown condition"):
        make_condition("top7", 3)


def test_quantise_rounds_toward_zero():
    v = torch.tensor([2.9, -2.9, 0.4, -0.4, 3.0]) / 255
    assert torch.allclose(quantise_toward_zero_(v) * 255, torch.tensor([2.0, -2.0, 0.0, 0.0, 3.0]))


def test_objective_l1_term_is_fraction_of_budget():
    logits = torch.zeros(1, 4)
    v = torch.full((3, 2, 2), 0.01)
    budget_l1 = float(torch.full((3, 2, 2), 0.04).sum())
    plain = ColourVarianceObjective(0, budget_l1, l1_weight=0)(logits, v)
    penalised = ColourVarianceObjective(0, budget_l1, l1_weight=2)(logits, v)
    assert penalised - plain == pytest.approx(2 * 0.25)


def run_toy(image, budget, condition, **kwargs):
    model = ToyClassifier()
    objective = ColourVarianceObjective(condition.label, float(budget.expand_as(image).sum()), 1.0)
    return run_attack(model, image, budget, objective, condition,
                      generator=torch.Generator().manual_seed(0), **kwargs)


def test_attack_succeeds_within_budget_on_the_8bit_grid(image):
    model = ToyClassifier()
    label = int(model(image[None]).argmax())
    budget = torch.full((32, 32), 16 / 255)
    budget[:, :8] = 0  # flat region: no change allowed
    outcome = run_toy(image, budget, NotInTopK(label, k=1), max_iter=200)
    assert outcome.success
    assert int(outcome.logits.argmax()) != label
    change = (outcome.adversarial - image).abs()
    assert (change <= budget + 1e-6).all()
    assert change[:, :, :8].max() == 0
    assert torch.equal(outcome.adversarial * 255, (outcome.adversarial * 255).round())


def test_attack_stops_as_soon_as_condition_holds(image):
    model = ToyClassifier()
    runner_up = int(model(image[None]).topk(2).indices[0, 1])
    # The runner-up already is not the top-1: nothing to do.
    outcome = run_toy(image, torch.full((32, 32), 8 / 255), NotInTopK(runner_up, k=1), max_iter=50)
    assert outcome.success and outcome.iterations == 0


def test_attack_reports_failure_when_budget_too_small(image):
    model = ToyClassifier()
    label = int(model(image[None]).argmax())
    outcome = run_toy(image, torch.full((32, 32), 1 / 255), NotInTopK(label, k=5), max_iter=5)
    assert not outcome.success and outcome.iterations == 5


def test_through_shows_the_model_what_saving_does(image):
    """A 'saver' that erases every change in the left half: the loop must still succeed on its output."""
    model = ToyClassifier()
    label = int(model(image[None]).argmax())
    seen = []

    def through(candidate):
        kept = candidate.clone()
        kept[:, :, :16] = image[:, :, :16]
        seen.append(kept)
        return kept

    outcome = run_toy(image, torch.full((32, 32), 16 / 255), NotInTopK(label, k=1), max_iter=200, through=through)
    assert outcome.success
    assert int(model(through(outcome.adversarial)[None]).argmax()) != label
    assert len(seen) > 2


def test_progress_and_cancel(image):
    seen = []
    label = int(ToyClassifier()(image[None]).argmax())
    with pytest.raises(AttackCancelled):
        run_toy(image, torch.full((32, 32), 1 / 255), NotInTopK(label, k=5), max_iter=50,
                on_iteration=lambda i, n: seen.append((i, n)), should_stop=lambda: len(seen) >= 3)
    assert seen == [(1, 50), (2, 50), (3, 50)]
