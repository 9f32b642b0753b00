"""Registry entries, model status, the Classifier wrapper, devices and the cache folder."""

from __future__ import annotations

import re

import platformdirs
import pytest
import torch
import torchvision.models
import torchvision.transforms.v2.functional as TF

from pixelguard.cache import cache_dir, data_dir, models_dir
from pixelguard.devices import resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.models import DEFAULT_MODEL, Classifier, get_entry, list_models, load_model, model_status
from pixelguard.models.datapacks import seed_cache_from
from pixelguard.models.registry import (
    PLACES365_PREPROCESSING,
    TORCHVISION_MODELS,
    Preprocessing,
    cached_weights_path,
    imagenet_preprocessing,
)


def test_default_model_comes_first_and_works_offline():
    assert DEFAULT_MODEL == "efficientnet-lite0"
    entries = list_models()
    assert entries[0].name == DEFAULT_MODEL
    assert [e.name for e in entries[:5]] == [
        "efficientnet-lite0",
        "efficientnet-lite1",
        "efficientnet-lite2",
        "places365-resnet18",
        "places365-resnet50",
    ]
    assert {e.name for e in entries} >= {"resnet50", "mobilenet-v3-large", "vit-b-16"}
    assert model_status(DEFAULT_MODEL) == "installed"


def test_every_entry_is_pinned_and_described():
    for entry in list_models():
        source = entry.weights
        assert bool(source.package) != bool(source.url), entry.name
        assert source.sha256 or source.sha256_prefix, f"{entry.name} has no checksum pin"
        if source.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        assert entry.task in ("single-label", "multi-label")
        assert entry.licence and entry.download_mb > 0 and entry.num_classes in (365, 1000)
        assert entry.input_size == entry.preprocessing.crop


def test_places365_entries_follow_the_csail_checkpoints():
    for arch in ("resnet18", "resnet50"):
        entry = get_entry(f"places365-{arch}")
        assert entry.weights.url == f"http://places2.csail.mit.edu/models_places365/{arch}_places365.pth.tar"
        assert entry.weights.checkpoint_key == "state_dict" and entry.weights.strip_prefix == "module."
        assert entry.preprocessing == PLACES365_PREPROCESSING
        assert entry.data_packs == ("places365-categories",)


def test_torchvision_entries_come_from_the_weights_api():
    for name, weights_name in TORCHVISION_MODELS.items():
        entry = get_entry(name)
        weights = torchvision.models.get_weight(weights_name)
        transforms = weights.transforms()
        assert entry.weights.url == weights.url
        # torchvision names its files "<arch>-<first hex digits of sha256>.pth"
        assert weights.url.endswith(f"-{entry.weights.sha256_prefix}.pth")
        assert len(entry.weights.sha256_prefix) >= 8 and entry.weights.sha256 is None
        assert entry.preprocessing.resize == transforms.resize_size[0]
        assert entry.preprocessing.crop == transforms.crop_size[0]
        assert entry.preprocessing.interpolation == transforms.interpolation.value
        assert torchvision.models.get_model_weights(entry.architecture) is type(weights)


def test_unknown_model_suggests_a_close_name():
    suggestion = r"unknown model 'efficientnet-lite9'; did you mean .*'efficientnet-lite0'"
    with pytest.raises(PixelGuardError, match=suggestion):
        get_entry("efficientnet-lite9")
    with pytest.raises(PixelGuardError, match="unknown model"):
        load_model("no-such-model-at-all")


def test_status_of_downloadable_models(empty_cache, without_bundled_data, shared_dir):
    assert model_status("places365-resnet18") == "not-downloaded"
    path = cached_weights_path(get_entry("places365-resnet18"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placeholder")
    assert model_status("places365-resnet18") == "not-downloaded"  # its label file is missing too
    seed_cache_from(shared_dir / "data")
    assert model_status("places365-resnet18") == "cached"
    assert model_status("resnet50") == "not-downloaded"


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXELGUARD_HOME", str(tmp_path))
    assert cache_dir() == tmp_path
    assert models_dir() == tmp_path / "models" and data_dir() == tmp_path / "data"
    monkeypatch.delenv("PIXELGUARD_HOME")
    assert cache_dir() == __import__("pathlib").Path(platformdirs.user_cache_dir("pixelguard", appauthor=False))


@pytest.mark.parametrize(
    "preprocessing, size",
    [
        (imagenet_preprocessing(), (333, 517)),
        (imagenet_preprocessing(232, 224, "bicubic"), (517, 333)),
        (PLACES365_PREPROCESSING, (300, 451)),
        (imagenet_preprocessing(), (180, 200)),  # upsampling
    ],
)
def test_preprocessing_matches_torchvision_transforms(preprocessing: Preprocessing, size):
    """Reference: torchvision's tensor Resize (antialiased) + CenterCrop + Normalize."""
    image = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    classifier = Classifier(torch.nn.Identity(), [], preprocessing)
    resize_to = [preprocessing.resize] * (2 if preprocessing.resize_mode == "square" else 1)
    interpolation = TF.InterpolationMode(preprocessing.interpolation)
    expected = TF.resize(image, resize_to, interpolation=interpolation, antialias=True)
    expected = TF.center_crop(expected, [preprocessing.crop])
    expected = TF.normalize(expected, list(preprocessing.mean), list(preprocessing.std))
    actual = classifier.preprocess(image)
    assert actual.shape == (2, 3, preprocessing.crop, preprocessing.crop)
    torch.testing.assert_close(actual, expected, atol=2e-5, rtol=0)


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")


def test_loaded_model_is_frozen_and_in_eval_mode(lite0):
    assert isinstance(lite0, Classifier) and not lite0.training
    assert all(not p.requires_grad for p in lite0.parameters())
    assert lite0.entry is get_entry("efficientnet-lite0") and lite0.task == "single-label"
    assert len(lite0.labels) == 1000 and lite0.labels[:2] == ["tench", "goldfish"]


def test_any_image_size_and_gradients_at_native_resolution(lite0):
    for height, width in [(37, 53), (224, 224), (301, 450)]:
        image = torch.rand(1, 3, height, width, requires_grad=True)
        logits = lite0(image)
        assert logits.shape == (1, 1000)
        logits[0, 1].backward()
        assert image.grad.shape == image.shape and image.grad.abs().sum() > 0
    assert lite0(torch.rand(3, 64, 80)).shape == (1, 1000)
    with pytest.raises(ValueError, match="shape"):
        lite0(torch.rand(1, 4, 64, 64))


def test_features_and_final_layer(lite0):
    image = torch.rand(2, 3, 120, 160)
    with torch.no_grad():
        features, logits = lite0.features_and_logits(image)
        assert features.shape == (2, 1280)
        assert lite0.classifier_weight.shape == (1000, 1280)
        torch.testing.assert_close(features @ lite0.classifier_weight.T + lite0.classifier_bias, logits)
        torch.testing.assert_close(lite0.features(image), features)


def test_top_k(lite0):
    predictions = lite0.top_k(torch.rand(2, 3, 100, 100), k=3)
    assert len(predictions) == 2 and all(len(row) == 3 for row in predictions)
    probabilities = [p for _, p in predictions[0]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(PixelGuardError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(PixelGuardError, match="MPS is not available"):
        resolve_device("mps")
    with pytest.raises(PixelGuardError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(PixelGuardError, match="1 CUDA device"):
        resolve_device("cuda:3")


@pytest.mark.gpu
def test_accelerator_matches_cpu(lite0):
    device = resolve_device("auto")
    if device.type == "cpu":
        pytest.skip("no CUDA or MPS device")
    on_device = load_model("efficientnet-lite0", device=device)
    image = torch.rand(1, 3, 480, 640)
    pixels = image.to(device).requires_grad_(True)
    logits = on_device(pixels)
    logits[0, 0].backward()
    assert pixels.grad is not None and torch.isfinite(pixels.grad).all()
    with torch.no_grad():
        torch.testing.assert_close(logits.detach().cpu(), lite0(image), atol=1e-3, rtol=1e-3)
