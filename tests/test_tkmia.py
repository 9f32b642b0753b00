"""TkMIA and its TkML-AP-U baseline: the closed-form loss, the success rule, the tag choice,
the SGD/tanh loop, the pipeline and the CLI."""

import json

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from pixelguard import imageio
from pixelguard.attacks import METHODS
from pixelguard.attacks.loop import Optimiser, _TanhSpace, run_attack
from pixelguard.attacks.tkmia import TagsHidden, TkmiaObjective, average_top
from pixelguard.attacks.tkml_ap import top_k_untargeted_objective
from pixelguard.cli import main
from pixelguard.errors import PixelGuardError
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.models.classifier import scores_from_logits
from pixelguard.tagging import current_tags, select_tags, tag_indices
from toy_models import ToyClassifier, paper_settings

ZERO = torch.zeros(3, 224, 224)  # a perturbation at the reference size: the loss is unscaled


class SharpToy(ToyClassifier):
    """The toy on a finer 12x12 grid with steeper logits: TkMIA's fixed SGD lr is set for a real
    model's gradients, much larger than the 4x4 toy's."""

    def __init__(self, classes: int = 12):
        super().__init__(classes)
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(classes, 3 * 144, generator=generator), requires_grad=False)

    def forward(self, x):
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 12).flatten(1)
        return 10 * (pooled - 0.5) @ self.weight.T


def test_average_top_k_equals_its_minimisation_form():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        values = torch.randn(2, 40, generator=generator) * 3
        count = int(torch.randint(1, 40, (1,), generator=generator))
        expected = values.sort(dim=-1, descending=True).values[:, :count].mean(dim=-1)
        assert torch.allclose(average_top(values, count), expected, atol=1e-5)
        # min_t { t + (1/K) sum [v - t]_+ }: piecewise linear and convex, so the minimum is
        # at a breakpoint t = v_i; the closed form must reach it.
        candidates = values.unsqueeze(-1)  # (2, 40, 1): every v_i as t
        objective = candidates[..., 0] + (values.unsqueeze(1) - candidates).clamp(min=0).sum(-1) / count
        assert torch.allclose(objective.min(dim=-1).values, expected, atol=1e-5)


def test_tkmia_loss_equals_its_closed_form_and_the_hinge_identities():
    generator = torch.Generator().manual_seed(1)
    m, k = 30, 5
    logits = torch.randn(1, m, generator=generator) * 2
    order = logits[0].argsort(descending=True).tolist()
    hidden, kept = (order[1], order[7]), (order[0], order[3], order[12])
    f = logits[0]
    ranked = f[order]
    psi = f[list(hidden)].max() - f
    phi = f - f[list(kept)].min()
    # The (m-k)-th largest psi and the k-th largest phi are the hinge terms of the surrogate.
    assert psi.sort(descending=True).values[m - k - 1] == pytest.approx(float(f[list(hidden)].max() - ranked[k]))
    assert phi.sort(descending=True).values[k - 1] == pytest.approx(float(ranked[k - 1] - f[list(kept)].min()))
    expected = (f[list(hidden)].max() - ranked[k:].mean()) + (ranked[:k].mean() - f[list(kept)].min())
    assert float(TkmiaObjective(hidden, kept, k, l2_weight=0)(logits, ZERO)) == pytest.approx(float(expected), abs=1e-5)
    # lambda * ||v||^2 on top, and no Ybar term when every relevant tag is hidden.
    v = torch.full((3, 224, 224), 0.01)
    with_l2 = TkmiaObjective(hidden, kept, k, l2_weight=1e-3)(logits, v)
    assert float(with_l2) == pytest.approx(float(expected) + 1e-3 * float(v.square().sum()), abs=1e-4)
    alone = TkmiaObjective(hidden, (), k, l2_weight=0)(logits, ZERO)
    assert float(alone) == pytest.approx(float(f[list(hidden)].max() - ranked[k:].mean()), abs=1e-5)


def test_tkmia_gradient_pushes_hidden_down_and_kept_up():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0]], requires_grad=True)
    TkmiaObjective((0,), (1, 2), k=3, l2_weight=0)(logits, ZERO).backward()
    grad = logits.grad[0]
    assert grad[0] > 0  # minimising lowers the hidden score
    assert grad[2] < 0  # and raises the weakest kept tag
    assert grad[3:].sum() < 0  # and the scores below the top k


def test_baseline_loss_pushes_every_relevant_label():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(1, 20, generator=generator)
    relevant = tuple(logits[0].topk(3).indices.tolist())
    bottom = logits[0].sort(descending=True).values[3:].mean()
    loss = top_k_untargeted_objective(relevant, k=3, l2_weight=0)(logits, ZERO)
    assert float(loss) == pytest.approx(float(logits[0].max() - bottom), abs=1e-5)


def test_success_rule_is_delta_n_reaching_the_hidden_count():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0],
                           [0.0, 4.0, 3.0, 2.0, 1.0, 5.0],
                           [0.0, 1.0, 3.0, 2.0, 4.0, 5.0]])
    condition = TagsHidden(0, hidden=(0, 4), k=3)
    # Photo 1: tag 0 still in the top 3. Photo 2: both out. Photo 3: 0 out, but 4 came in.
    assert condition(logits).tolist() == [False, True, False]
    assert condition.describe([f"t{i}" for i in range(6)]) == "'t0' and 't4' are no longer among the top 3 tags"


def test_select_tags_validates_names_and_the_current_top_k():
    labels = ["swimming pool", "bedroom", "child", "beach", "dog", "cat"]
    logits = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    hidden = tag_indices(labels, ("Bedroom", "cat", "bedroom"))
    assert hidden == (1, 5)
    selection = select_tags(labels, logits, hidden, k=3)
    assert selection.relevant == (0, 1, 2) and selection.hidden == (1, 5)
    assert selection.kept == (0, 2) and selection.already_hidden == (5,) and selection.to_remove == (1,)
    with pytest.raises(PixelGuardError, match="did you mean 'swimming pool'"):
        tag_indices(labels, ("swiming pool",))
    with pytest.raises(PixelGuardError, match="nothing to hide: 'dog' not among this photo's top 3 tags"):
        select_tags(labels, logits, (4,), k=3)
    with pytest.raises(PixelGuardError, match="no tags to hide"):
        select_tags(labels, logits, (), k=3)


def test_tag_scores_follow_the_model_task():
    logits = torch.tensor([2.0, 0.0, -1.0])
    model = ToyClassifier()
    assert torch.allclose(scores_from_logits(logits), logits.softmax(-1))
    assert torch.allclose(scores_from_logits(logits, "multi-label"), torch.sigmoid(logits))
    model.task = "multi-label"
    image = torch.rand(3, 16, 16)
    tags = current_tags(model, image, k=4)
    expected = torch.sigmoid(model(image[None])[0]).topk(4)
    assert [t.index for t in tags] == expected.indices.tolist()
    assert [t.score for t in tags] == pytest.approx(expected.values.tolist())
    assert tags[0].label == model.labels[tags[0].index]


def test_tanh_space_round_trip_keeps_saturated_pixels_finite():
    image = torch.tensor([0.0, 1 / 255, 0.5, 254 / 255, 1.0]).view(1, 1, 5).expand(3, 1, 5).contiguous()
    space = _TanhSpace(image)
    v = torch.tensor([3.0, -1.0, 7.0, 1.0, -4.0]).view(1, 1, 5).expand(3, 1, 5) / 255
    w = space.parameter(v)
    assert torch.isfinite(w).all()
    assert torch.allclose(space.perturbation(w), v, atol=1e-6)
    assert torch.allclose(space.perturbation(torch.zeros_like(w)), torch.zeros_like(v), atol=1e-6)


@pytest.fixture
def textured():
    generator = torch.Generator().manual_seed(3)
    return (torch.rand(3, 32, 32, generator=generator) * 255).round() / 255


def test_sgd_tanh_loop_hides_a_tag_within_budget_on_the_grid(textured):
    model = SharpToy()
    k = 4
    top = model(textured[None])[0].topk(k).indices.tolist()
    budget = torch.full((32, 32), 16 / 255)
    budget[:8] = 0
    objective = TkmiaObjective((top[0],), tuple(top[1:]), k)
    outcome = run_attack(model, textured, budget, objective, TagsHidden(top[0], hidden=(top[0],), k=k),
                         max_iter=200, generator=torch.Generator().manual_seed(0))
    assert outcome.success and outcome.iterations > 0
    after = outcome.logits.topk(k).indices.tolist()
    assert top[0] not in after
    change = (outcome.adversarial - textured).abs()
    assert (change <= budget + 1e-6).all() and change[:, :8].max() == 0
    assert torch.equal(outcome.adversarial * 255, (outcome.adversarial * 255).round())


def test_objective_chooses_the_optimiser_and_a_caller_may_override(textured, monkeypatch):
    built = []
    original = Optimiser.build

    def spy(self, parameter):
        built.append(self)
        return original(self, parameter)

    monkeypatch.setattr(Optimiser, "build", spy)
    model = ToyClassifier()
    objective = TkmiaObjective((0,), (1,), 3)
    never = TagsHidden(0, hidden=(0,), k=10)  # 10 classes: never met, so the loop steps
    run_attack(model, textured, torch.full((32, 32), 4 / 255), objective, never, max_iter=1)
    run_attack(model, textured, torch.full((32, 32), 4 / 255), objective, never, max_iter=1, optimiser=Optimiser())
    assert built[0].kind == "sgd" and built[0].momentum == 0.9 and built[0].tanh_space
    assert built[1] == Optimiser()


def toy_photo(path, seed=4):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    image = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8)).astype(np.int16)
    image += rng.integers(-20, 21, size=image.shape, dtype=np.int16)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("method, rank, seed", [("tkmia", 1, 4), ("tkml-ap", 0, 6)])
def test_pipeline_reports_hidden_tags_and_measures(tmp_path, method, rank, seed):
    source = toy_photo(tmp_path / "in.png", seed)
    model = SharpToy()
    settings = paper_settings(model="toy", method=method, device="cpu", k=4, strength=32, max_iter=100)
    protector = Protector(settings, model=model)
    clean = protector.logits(protector.tensor(imageio.load_image(source).rgb))
    top = [model.labels[i] for i in clean.topk(4).indices.tolist()]
    hidden = top[rank]
    protector = Protector(replace(settings, hide=(hidden,)), model=model)
    record = next(protect_batch([Job(source, tmp_path / "out.png")], protector, keep_failed=True))
    # Hidden on the toy's own pipeline; "protected" also asks the held-out upload check.
    assert record.extra["own_pipeline"]
    assert record.success == all(check["held"] for check in record.extra["panel"])
    assert record.status == ("protected" if record.success else "failed")
    fields = record.to_dict()
    assert fields["hidden"] == [hidden] and fields["relevant"] == top and fields["k"] == 4
    assert fields["hidden_removed"] == [hidden] and fields["already_hidden"] == []
    saved = protector.logits(protector.tensor(imageio.load_image(record.output).rgb))
    after = [model.labels[i] for i in saved.topk(4).indices.tolist()]
    assert hidden not in after
    assert fields["kept_in_topk"] == [label for label in top if label != hidden and label in after]
    assert fields["precision_at_k_before"] == fields["ndcg_at_k_before"] == 1.0
    assert fields["precision_at_k_after"] == pytest.approx(sum(label in top for label in after) / 4)
    assert record.label == hidden
    hidden_text = f"'{hidden}' is no longer among the top 4 tags"
    assert record.verdict.startswith(f"Protected: {hidden_text}, on all" if record.success
                                     else f"Not protected: {hidden_text} on its own pipeline")


def test_both_methods_are_registered():
    assert METHODS["tkmia"].name == "tkmia" and METHODS["tkml-ap"].name == "tkml-ap"


def test_k_must_leave_labels_below_the_cut(tmp_path):
    source = toy_photo(tmp_path / "in.png")
    settings = paper_settings(model="toy", method="tkmia", device="cpu", k=10)
    record = next(protect_batch([Job(source, tmp_path / "out.png")], Protector(settings, model=ToyClassifier())))
    assert record.status == "error" and "--k must be smaller than the model's 10 labels" in record.error


@pytest.fixture
def small_photo(shared_dir, tmp_path):
    with Image.open(shared_dir / "photos" / "cat_720p.jpg") as photo:
        photo.thumbnail((288, 288))
        photo.save(tmp_path / "cat.png")
    return tmp_path / "cat.png"


@pytest.mark.slow
def test_cli_hides_the_top_tag_of_a_real_photo_and_keeps_the_others(small_photo, tmp_path, capsys):
    assert main(["inspect", str(small_photo), "--tags", "--top", "5", "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)[0]["tags"]
    assert len(tags) == 5 and tags[0]["score"] >= tags[1]["score"]
    hidden = tags[0]["label"]
    report = tmp_path / "report.json"
    code = main(["protect", str(small_photo), "-o", str(tmp_path / "out"), "--method", "tkmia", "--hide", hidden,
                 "--k", "5", "--preset", "fast", "--report", str(report), "-q", "--keep-failed"])
    record = json.loads(report.read_text())[0]
    assert code == (0 if record["success"] else 1)
    assert ("Protected: " if record["success"] else "Not protected: ") in capsys.readouterr().out
    assert record["own_pipeline"] and record["hidden"] == [hidden] and record["hidden_removed"] == [hidden]
    assert len(record["kept_in_topk"]) == 4  # the other four tags still fill the top 5
    assert record["precision_at_k_after"] == pytest.approx(0.8)
    assert record["ssim"] > 0.98
    main(["inspect", record["output"], "--tags", "--json"])
    after = [tag["label"] for tag in json.loads(capsys.readouterr().out)[0]["tags"]]
    assert hidden not in after


@pytest.mark.slow
def test_cli_rejects_a_misspelled_tag_with_a_suggestion(small_photo, tmp_path, capsys):
    code = main(["protect", str(small_photo), "-o", str(tmp_path / "out"), "--method", "tkmia",
                 "--hide", "tabby cat", "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert "pixelguard: error: unknown label 'tabby cat'" in err and "did you mean 'tabby'" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
