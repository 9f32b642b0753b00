"""The protect pipeline on small generated photos with a toy model: fast, and strict about files."""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from pixelguard import imageio
from pixelguard.attacks.loop import AttackCancelled
from pixelguard.errors import PixelGuardError
from pixelguard.batch import Job, plan_jobs, protect_batch
from pixelguard.protect import Protector, data_packs_to_download, models_to_download
from pixelguard.settings import ProtectSettings
from pixelguard.report import write_report
from pixelguard.threshold import colour_variance_map
from toy_models import ToyClassifier, paper_settings


def textured_photo(seed: int, size=(48, 40)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    image = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8)).astype(np.int16)
    image += rng.integers(-20, 21, size=image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(textured_photo(1)).save(folder / "a.png")
    Image.fromarray(textured_photo(2)).save(folder / "b.jpg", quality=95)
    Image.fromarray(textured_photo(3)).save(folder / "sub" / "c.png")
    return folder


@pytest.fixture(autouse=True)
def own_pipeline_only(monkeypatch):
    """These tests are about the batch, files and reports: the toy's luck on the held-out upload
    check (tests/test_panel.py) would decide them otherwise."""
    monkeypatch.setattr("pixelguard.protect.verify_on_panel", lambda *args, **kwargs: [])


def protector(**overrides) -> Protector:
    # The toy has 10 classes, too few for a meaningful top-5 condition: use top-1 by default.
    settings = paper_settings(**{"model": "toy", "device": "cpu", "max_iter": 60, "strength": 16,
                                  "condition": "top1", **overrides})
    return Protector(settings, model=ToyClassifier())


def test_outputs_keep_name_size_format_and_originals_are_untouched(photos, tmp_path):
    before = {p: sha256(p) for p in photos.rglob("*") if p.is_file()}
    jobs = plan_jobs([photos], tmp_path / "out", recursive=True, fmt="keep")
    assert sorted(j.output.relative_to(tmp_path / "out").as_posix() for j in jobs) == ["a.png", "b.jpg", "sub/c.png"]
    records = list(protect_batch(jobs, protector()))
    assert [r.status for r in records] == ["protected"] * 3
    for job in jobs:
        with Image.open(job.input) as original, Image.open(job.output) as written:
            assert written.size == original.size
            assert written.format == original.format
    assert before == {p: sha256(p) for p in photos.rglob("*") if p.is_file()}


def test_budget_holds_on_the_saved_file(photos, tmp_path):
    job = Job(photos / "a.png", tmp_path / "a.png")
    record = next(protect_batch([job], protector(l1=0)))
    assert record.success
    original = imageio.load_image(job.input).rgb
    saved = imageio.load_image(job.output).rgb
    budget = colour_variance_map(imageio.rgb_to_tensor(original)) * 16
    change = np.abs(saved.astype(int) - original.astype(int)).max(axis=2)
    assert (change <= budget.numpy() + 1e-4).all()
    assert change.max() > 0
    assert record.linf == change.max()
    assert 0 < record.budget_used <= 1


def test_report_fields_and_after_measured_on_the_saved_file(photos, tmp_path):
    job = Job(photos / "b.jpg", tmp_path / "b.jpg")
    p = protector()
    record = next(protect_batch([job], p))
    saved = imageio.load_image(job.output).rgb
    logits = p.logits(p.tensor(saved))
    assert record.after[0][0] == p.labels[int(logits.argmax())]
    assert record.after[0][1] == pytest.approx(float(logits.softmax(-1).max()), abs=1e-5)
    assert record.label == record.before[0][0]
    assert record.after[0][0] != record.label
    assert record.success and record.status == "protected" and record.error is None
    assert 0 < record.ssim <= 1 and record.psnr > 20 and record.delta_e_mean > 0
    assert record.delta_e_max >= record.delta_e_p95 >= 0
    assert record.budget_used > 0  # JPEG noise counts too: it may exceed 1 on a lossy output
    assert record.iterations >= 1 and record.attempts >= 1 and record.seconds > 0
    assert record.device == "cpu" and record.method == "cvpire" and record.condition == "top1"
    assert len(record.before) == len(record.after) == 5
    report = write_report([record.to_dict()], tmp_path / "report.json")
    loaded = json.loads(report.read_text())
    assert loaded[0]["output"] == str(job.output) and loaded[0]["after"] == record.after
    csv_text = write_report([record.to_dict()], tmp_path / "report.csv").read_text()
    assert csv_text.splitlines()[0].startswith("input,output,model")


def test_jpeg_output_is_verified_through_the_real_encoder(photos, tmp_path):
    job = Job(photos / "a.png", tmp_path / "a.jpg")
    record = next(protect_batch([job], protector(format="jpeg", jpeg_quality=60)))
    with Image.open(job.output) as written:
        assert written.format == "JPEG"
    p = protector()
    logits = p.logits(p.tensor(imageio.load_image(job.output).rgb))
    assert record.success == (p.labels.index(record.label) != int(logits.argmax()))


def test_a_corrupt_file_is_reported_and_the_batch_goes_on(photos, tmp_path):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    jobs = plan_jobs([photos], tmp_path / "out", recursive=False, fmt="keep")
    records = {r.input.split("/")[-1]: r for r in protect_batch(jobs, protector())}
    assert records["broken.jpg"].status == "error" and "broken.jpg" in records["broken.jpg"].error
    assert records["a.png"].status == records["b.jpg"].status == "protected"
    assert not (tmp_path / "out" / "broken.jpg").exists()


def test_interrupted_batch_keeps_finished_photos_and_resumes(photos, tmp_path):
    jobs = plan_jobs([photos], tmp_path / "out", recursive=True, fmt="png")
    started = []
    finished = []
    with pytest.raises(AttackCancelled):
        for record in protect_batch(jobs, protector(), on_start=lambda i, job: started.append(i),
                                    should_stop=lambda: len(started) > 1):
            finished.append(record)
    assert [r.status for r in finished] == ["protected"]
    assert jobs[0].output.exists() and not jobs[1].output.exists()
    first_written = sha256(jobs[0].output)
    resumed = list(protect_batch(jobs, protector(), skip_existing=True))
    assert [r.status for r in resumed] == ["protected", "protected", "protected"]
    assert [r.resumed for r in resumed] == [True, False, False]
    assert resumed[0].before == finished[0].before and resumed[0].ssim == finished[0].ssim
    assert sha256(jobs[0].output) == first_written
    again = list(protect_batch(jobs, protector()))
    assert all(r.status == "error" and "--overwrite" in r.error for r in again)


def test_named_label_and_unknown_label(photos, tmp_path):
    p = protector(label="class 3")
    record = next(protect_batch([Job(photos / "a.png", tmp_path / "a.png")], p))
    assert record.label == "class 3"
    with pytest.raises(PixelGuardError, match="did you mean 'class 3'"):  # once, before any photo
        protector(label="clas 3")
    # The methods' own label options are checked the same way (declared with names_labels).
    with pytest.raises(PixelGuardError, match="did you mean 'class 3'"):
        protector(method="labelfool", condition="target", target="clas 3")
    with pytest.raises(PixelGuardError, match="did you mean 'class 3'"):
        protector(method="tkmia", condition=None, hide=("class 1", "clas 3"))


@pytest.mark.parametrize("bad", [{"strength": 0}, {"max_iter": 0}, {"jpeg_quality": 101}, {"method": "magic"}])
def test_settings_are_validated(bad):
    with pytest.raises(Exception, match="must be|unknown method"):
        ProtectSettings(**bad).validate()


@pytest.mark.parametrize(
    ("changes", "packs"),
    [
        ({"condition": "top5"}, []),  # removing one label needs no data at all
        ({}, ["imagenet-class-paths"]),  # the default semantic condition needs the hierarchy
        ({"method": "kaa"}, ["imagenet-class-paths"]),
        ({"method": "labelfool", "condition": "target"}, []),
        ({"method": "tkmia"}, []),
        ({"method": "labelfool", "privacy_target": True}, ["imagenet-class-paths"]),
        ({"model": "places365-resnet18,efficientnet-lite0"},
         ["places365-categories", "places365-hierarchy", "imagenet-class-paths"]),
    ],
)
def test_data_packs_to_download_are_the_ones_the_settings_need(empty_cache, without_bundled_data, changes, packs):
    assert data_packs_to_download(ProtectSettings(**changes)) == packs


def test_shipped_hierarchies_leave_nothing_to_download(empty_cache):
    assert data_packs_to_download(ProtectSettings(model="places365-resnet18,efficientnet-lite0")) == []


def test_cached_data_packs_and_model_files_need_no_download(seeded_cache, tmp_path):
    assert data_packs_to_download(ProtectSettings(model="places365-resnet18")) == []
    # A model file's label set is only known once loaded: the engine fetches what it needs then.
    assert data_packs_to_download(ProtectSettings(model=str(tmp_path / "mine.pt"))) == []


def test_models_to_download_are_the_registry_models_not_here_yet(empty_cache, tmp_path):
    assert models_to_download("efficientnet-lite0") == []  # installed with PixelGuard
    assert models_to_download("places365-resnet18,efficientnet-lite0,resnet18") == ["places365-resnet18", "resnet18"]
    assert models_to_download(str(tmp_path / "mine.pt")) == []  # a model file: nothing to fetch


@pytest.mark.parametrize("bad, message", [({"condition": "top3"}, "unknown condition"),
                                          ({"format": "gif"}, "unknown output format"),
                                          ({"metadata": "gps-only"}, "unknown metadata policy"),
                                          ({"method": "tkmia", "condition": "top5"}, "does not apply to it"),
                                          ({"method": "labelfool", "condition": "top1"}, "judged by: semantic, target"),
                                          ({"window": 4}, "odd whole number"),
                                          ({"method": "kaa", "loss": "margin"}, "--loss margin works with")])
def test_every_setting_is_checked_before_any_photo(bad, message):
    with pytest.raises(PixelGuardError, match=message):
        ProtectSettings(**bad).validate()
