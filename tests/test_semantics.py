"""Semantic relatedness (Places365 hierarchy, ImageNet WordNet paths) and the semantic condition."""

from __future__ import annotations

import csv
import json
import random
import statistics
import warnings

import pytest
import torch
from PIL import Image

from pixelguard import imageio
from pixelguard.attacks import get_method
from pixelguard.attacks.conditions import SemanticMismatch, make_condition
from pixelguard.settings import CONDITION_NAMES
from pixelguard.attacks.cvpire import ColourVarianceObjective
from pixelguard.attacks.semantic import SemanticObjective
from pixelguard.cli import main
from pixelguard.errors import PixelGuardError
from pixelguard.models import datapacks
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.semantics import (
    cached_relation_for,
    imagenet_relation,
    load_relation,
    relation_for,
)
from test_protect import textured_photo
from toy_models import ToyClassifier, paper_settings


def toy_with_labels(labels: list[str]) -> ToyClassifier:
    model = ToyClassifier(classes=len(labels))
    model.labels = list(labels)
    return model


# --- Places365 ---------------------------------------------------------------------------------


def reference_places365_neighbourhood(shared_dir, name: str) -> set[str]:
    """R(name) straight from the shared CSV: a shared level-2 group or the same base name."""
    with open(shared_dir / "data" / "places365" / "scene_hierarchy.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    scenes = {row["category"].strip("/").split("/", 1)[1]: set(row["level2"].split(";")) for row in rows}
    return {other for other, groups in scenes.items()
            if groups & scenes[name] or other.split("/")[0] == name.split("/")[0]}


def test_places365_known_pairs(seeded_cache):
    relation = load_relation("places365")
    assert relation.related("bedroom", "hotel_room")  # both "home or hotel"
    assert relation.related("bedroom", "living_room")
    assert relation.related("church/indoor", "church/outdoor")  # siblings in different groups
    assert relation.related("swimming_pool/indoor", "swimming_pool/outdoor")
    assert not relation.related("bedroom", "forest_path")
    assert not relation.related("bedroom", "church/outdoor")
    # Multi-valued: the aqueduct is a man-made element and a historical place.
    assert relation.related("aqueduct", "dam") and relation.related("aqueduct", "castle")
    assert not relation.related("dam", "castle")


def test_places365_matches_the_csv_and_the_published_median(seeded_cache, shared_dir):
    relation = load_relation("places365")
    assert torch.equal(relation.matrix, relation.matrix.T) and bool(relation.matrix.diagonal().all())
    for name in ("bedroom", "church/indoor", "aqueduct", "ocean", "airfield"):
        expected = reference_places365_neighbourhood(shared_dir, name)
        assert {relation.labels[i] for i in relation.neighbourhood(name)} == expected
    sizes = relation.matrix.sum(dim=1)
    assert statistics.median(sizes.tolist()) == 35  # ALGORITHMS.md 6: "median |R| is about 35"
    assert int(sizes.min()) >= 2


# --- ImageNet ----------------------------------------------------------------------------------


def reference_imagenet_related(paths, a: int, b: int) -> bool:
    """The documented rule, pair by pair, on plain lists."""
    if a == b:
        return True
    shared = 0
    while shared < min(len(paths[a]), len(paths[b])) and paths[a][shared] == paths[b][shared]:
        shared += 1
    ancestor = paths[a][:shared]
    covered = sum(path[:shared] == ancestor for path in paths)
    close = max(len(paths[a]), len(paths[b])) - shared <= 2
    return shared > 0 and covered <= 150 and (close or shared - 1 >= 5)


def test_imagenet_documented_examples(seeded_cache):
    relation = load_relation("imagenet")
    dogs = range(151, 269)  # Chihuahua .. Mexican hairless: all 118 breeds
    assert bool(relation.matrix[dogs][:, dogs].all())
    assert relation.related("tabby", "tiger cat")
    assert relation.related("Egyptian cat", "lion")  # both feline
    assert relation.related("hotdog", "cheeseburger")  # both sandwiches
    assert not relation.related("espresso", "seashore")
    assert not relation.related("tabby", "golden retriever")  # 'carnivore' is too broad
    assert not relation.related(134, 517)  # 'crane' the bird and 'crane' the machine


def test_imagenet_matches_the_reference_rule_and_sizes(seeded_cache):
    paths = datapacks.imagenet_class_paths()
    relation = load_relation("imagenet")
    generator = random.Random(0)
    pairs = [(generator.randrange(1000), generator.randrange(1000)) for _ in range(300)]
    pairs += [(281, j) for j in range(1000)]  # every class against 'tabby'
    for a, b in pairs:
        assert relation.related(a, b) == reference_imagenet_related(paths, a, b), (a, b)
    assert torch.equal(relation.matrix, relation.matrix.T)
    sizes = relation.matrix.sum(dim=1).tolist()
    assert statistics.median(sizes) == 16 and max(sizes) == 130  # 130: 'canine'


def test_imagenet_relation_tells_repeated_names_apart():
    paths = [["root", "animal", "bird", "crane"], ["root", "animal", "bird", "heron"],
             ["root", "artifact", "lifting device", "crane"], ["root", "artifact", "lifting device", "hoist"]]
    relation = imagenet_relation(["crane", "heron", "crane", "hoist"], paths)
    assert relation.related(0, 1) and relation.related(2, 3)
    assert not relation.related(0, 2) and not relation.related(1, 3)  # the root, 3 levels up


# --- choosing the relation for a model ---------------------------------------------------------


def test_relation_for_picks_the_label_set(seeded_cache):
    assert relation_for(toy_with_labels(datapacks.imagenet_categories())).label_set == "imagenet"
    assert relation_for(toy_with_labels(datapacks.places365_categories())).label_set == "places365"
    with pytest.raises(PixelGuardError, match="known label set .* has 10 labels of its own"):
        relation_for(ToyClassifier())


def test_cached_relation_never_downloads(empty_cache, without_bundled_data, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(datapacks, "download", no_download)
    assert cached_relation_for(toy_with_labels(datapacks.imagenet_categories())) is None
    assert cached_relation_for(toy_with_labels([f"scene {i}" for i in range(365)])) is None
    assert cached_relation_for(ToyClassifier()) is None


# --- the semantic condition and objective ------------------------------------------------------


def test_semantic_condition_on_hand_made_logits():
    logits = torch.tensor([[0.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    condition = SemanticMismatch(0, related=frozenset({0, 5}), k=3)
    assert bool(condition(logits)[0])  # top 3 = 1, 2, 3: none related to 0
    assert not SemanticMismatch(0, related=frozenset({0, 3}), k=3)(logits)[0]
    assert not SemanticMismatch(1, k=3)(logits)[0]  # the label itself counts as related
    assert make_condition("semantic", 0, k=3, related=frozenset({0, 5})) == condition
    assert "semantic" in CONDITION_NAMES and condition.name == "semantic"
    assert condition.describe([f"c{i}" for i in range(6)]) == "none of the top 3 predictions is related to 'c0'"


def test_semantic_objective_is_minus_the_log_of_the_related_mass():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 8, generator=generator, requires_grad=True)
    v = torch.full((3, 2, 2), 0.01)
    loss = SemanticObjective((1, 4, 6), budget_l1=0.48, l1_weight=2)(logits, v)
    probs = logits.softmax(dim=-1)[0]
    assert loss.item() == pytest.approx(torch.log(probs[[1, 4, 6]].sum()).item() + 2 * 0.25, abs=1e-6)
    loss.backward()
    assert (logits.grad[0, [1, 4, 6]] > 0).all() and (logits.grad[0, [0, 2, 3, 5, 7]] < 0).all()
    single = SemanticObjective((3,), 1.0, 0)(logits, v)
    assert single.item() == pytest.approx(ColourVarianceObjective(3, 1.0, 0)(logits, v).item(), abs=1e-6)


def test_related_in_top_k():
    paths = [["r", "s", "x", "a"], ["r", "s", "x", "b"], ["r", "t", "y", "c"], ["r", "t", "y", "d"]]
    relation = imagenet_relation(["a", "b", "c", "d"], paths)
    logits = torch.tensor([0.0, 3.0, 2.0, 1.0])
    assert relation.related_in_top_k(logits, 0, k=2) == 1  # b related to a, c not
    assert relation.related_in_top_k(logits, 2, k=3) == 2  # c itself and d
    assert relation.report_after(0, 4)(logits) == {"related_in_topk": 2, "related_left": ["b", "a"]}


# --- the semantic condition through the pipeline -----------------------------------------------


def test_protect_with_the_semantic_condition_clears_the_neighbourhood(seeded_cache, tmp_path, monkeypatch):
    monkeypatch.setattr("pixelguard.protect.verify_on_panel", lambda *args, **kwargs: [])  # the toy is no panel material
    model = toy_with_labels(datapacks.places365_categories())
    Image.fromarray(textured_photo(1)).save(tmp_path / "scene.png")
    settings = paper_settings(model="toy", device="cpu", condition="semantic", k=5, strength=32, max_iter=100)
    protector = Protector(settings, model=model)
    record = next(protect_batch([Job(tmp_path / "scene.png", tmp_path / "out.png")], protector))
    assert record.success, record.verdict
    relation = load_relation("places365")
    saved_logits = protector.logits(protector.tensor(imageio.load_image(tmp_path / "out.png").rgb))
    truth = relation.index(record.label)
    top5 = saved_logits.topk(5).indices.tolist()
    assert not any(relation.related(truth, index) for index in top5)
    assert record.extra["related_in_topk"] == 0
    assert record.extra["neighbourhood_size"] == len(relation.neighbourhood(truth))
    assert record.verdict.startswith("Protected: none of the top 5 predictions is related to")


def test_cvpire_plans_the_semantic_objective_for_the_semantic_condition(seeded_cache):
    model = toy_with_labels(datapacks.places365_categories())
    image = torch.from_numpy(textured_photo(8)).permute(2, 0, 1) / 255
    run = paper_settings(condition="semantic", k=7).build()
    context = run.plan_context(model, model.labels, image, model(image[None])[0], torch.full(image.shape[1:], 0.1))
    plan = get_method("cvpire").plan(context)
    related = load_relation("places365").neighbourhood(plan.label)
    assert isinstance(plan.objective, SemanticObjective) and plan.objective.related == tuple(related)
    assert plan.condition == SemanticMismatch(plan.label, frozenset(related), k=7)


def test_every_method_reports_related_labels_when_the_hierarchy_is_cached(seeded_cache, tmp_path):
    model = toy_with_labels(datapacks.places365_categories())
    Image.fromarray(textured_photo(5)).save(tmp_path / "scene.png")
    protector = Protector(paper_settings(model="toy", device="cpu", condition="top1", max_iter=60), model=model)
    record = next(protect_batch([Job(tmp_path / "scene.png", tmp_path / "out.png")], protector))
    relation = load_relation("places365")
    truth = relation.index(record.label)
    expected = sum(relation.related(truth, label) for label, _ in record.after)
    assert record.extra["related_in_topk"] == expected


def test_semantic_condition_needs_a_known_label_set(tmp_path):
    Image.fromarray(textured_photo(6)).save(tmp_path / "a.png")
    protector = Protector(paper_settings(model="toy", device="cpu", condition="semantic"), model=ToyClassifier())
    record = next(protect_batch([Job(tmp_path / "a.png", tmp_path / "out.png")], protector))
    assert record.status == "error" and "known label set" in record.error
    assert not (tmp_path / "out.png").exists()


# --- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def toy_model_file(tmp_path):
    """A TorchScript model with 10 labels of its own."""
    path = tmp_path / "toy.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch marks TorchScript deprecated
        torch.jit.trace(ToyClassifier(), torch.rand(1, 3, 32, 32)).save(str(path))
    return path


def test_cli_semantic_features_with_unknown_labels_are_one_line_errors(toy_model_file, tmp_path, capsys):
    Image.fromarray(textured_photo(7)).save(tmp_path / "a.png")
    assert main(["inspect", str(tmp_path / "a.png"), "--model", str(toy_model_file), "--related"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pixelguard: error: semantic features need a known label set") and "Traceback" not in err


@pytest.mark.slow
def test_cli_inspect_related_with_the_default_model(seeded_cache, shared_dir, tmp_path, capsys):
    with Image.open(shared_dir / "photos" / "pets.jpg") as photo:
        photo.thumbnail((256, 256))
        photo.save(tmp_path / "pets.png")
    assert main(["inspect", str(tmp_path / "pets.png"), "--related", "--json", "--device", "cpu"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    relation = load_relation("imagenet")
    names = [label for label, _ in record["predictions"]]
    assert record["related_to_top1"] == [relation.related(names[0], name) for name in names]
    assert record["related_to_top1"][0] is True
    assert main(["inspect", str(tmp_path / "pets.png"), "--related", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].endswith(("related to the top one", "unrelated"))
