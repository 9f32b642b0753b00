"""Views: each transform's differentiable forward against its exact counterpart, and gradients."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pixelguard import imageio
from pixelguard.models.classifier import Classifier
from pixelguard.models.registry import imagenet_preprocessing
from pixelguard.views import (
    Crop, Jpeg, ModelInput, Resize, Route, RoutedModel, RouteSampler, WebP, target_size,
)
from test_protect import textured_photo


def tiny_classifier(classes: int = 6) -> Classifier:
    """A real Classifier (resize 40, crop 32) over a small conv net: any photo size, real preprocessing."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(8, classes))
    return Classifier(network.eval(), [f"class {i}" for i in range(classes)], imagenet_preprocessing(40, 32))


def photo(seed: int = 0, size: tuple[int, int] = (300, 200)) -> np.ndarray:
    """A smooth-ish textured photo (resizers of different libraries agree on it to a level or so)."""
    rgb = textured_photo(seed, size=size)
    return np.asarray(Image.fromarray(rgb).filter(__import__("PIL.ImageFilter").ImageFilter.GaussianBlur(1.5)))


def differentiable_rgb(view, rgb: np.ndarray) -> np.ndarray:
    return imageio.tensor_to_rgb(view.apply(imageio.rgb_to_tensor(rgb)[None])[0])


@pytest.mark.parametrize("view, mean_limit, p99_limit", [
    (Resize("shorter", 64, "bilinear", "pillow"), 0.3, 1),
    (Resize("shorter", 64, "bicubic", "pillow"), 0.3, 1),
    (Resize("long", 120, "lanczos", "pillow"), 1.0, 3),  # a bicubic stands in for Lanczos
    (Resize("shorter", 64, "bilinear", "opencv"), 0.3, 1),  # no antialiasing, as OpenCV
    (Resize("shorter", 64, "area", "opencv"), 0.05, 1),  # exact area averaging
    (Resize("long", 211, "area", "opencv"), 0.05, 1),  # a non-integer factor
    (Resize("square", 48, "bicubic", "pillow"), 0.3, 1),
    (Crop(48, (0.2, 0.9)), 0.0, 0),
    (Jpeg(75), 0.0, 0),
    (Jpeg(90, subsampling=0), 0.0, 0),
    (WebP(80), 0.0, 0),
])
def test_forward_matches_the_exact_library(view, mean_limit, p99_limit):
    rgb = photo(1)
    exact = view.exact(rgb).astype(float)
    ours = differentiable_rgb(view, rgb).astype(float)
    assert exact.shape == ours.shape
    difference = np.abs(exact - ours)
    assert difference.mean() <= mean_limit and np.percentile(difference, 99) <= p99_limit, view.name


def test_exact_views_are_the_libraries_themselves():
    rgb = photo(2)
    height, width = target_size(*rgb.shape[:2], "shorter", 64)
    assert np.array_equal(Resize("shorter", 64, "bilinear", "pillow").exact(rgb),
                          np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)))
    assert np.array_equal(Resize("shorter", 64, "area", "opencv").exact(rgb),
                          cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=75)  # Pillow's default: 4:2:0
    assert np.array_equal(Jpeg(75).exact(rgb), np.asarray(Image.open(buffer).convert("RGB")))


@pytest.mark.parametrize("view", [Resize("shorter", 64, "bilinear"), Resize("shorter", 64, "area", "opencv"),
                                  Resize("shorter", 64, "bilinear", "opencv"), Crop(48, (0.7, 0.1))])
def test_gradients_reach_the_pixels_each_output_uses(view):
    images = imageio.rgb_to_tensor(photo(3))[None].requires_grad_(True)
    output = view.apply(images)
    output.sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    # Total weight is preserved by a resize (each output pixel averages to one) and by a crop.
    assert float(images.grad.sum()) == pytest.approx(output.numel(), rel=1e-3)


def test_codecs_pass_the_gradient_straight_through():
    images = imageio.rgb_to_tensor(photo(4))[None].requires_grad_(True)
    weights = torch.randn(images.shape)
    (Jpeg(60).apply(images) * weights).sum().backward()
    assert torch.equal(images.grad, weights)


def test_sizes_follow_the_resizers_rules():
    assert target_size(200, 300, "shorter", 64) == (64, 96)
    assert target_size(300, 200, "shorter", 64) == (96, 64)
    assert target_size(2000, 3000, "long", 1080) == (720, 1080)
    assert target_size(200, 300, "long", 1080) == (200, 300)  # uploads never enlarge
    assert target_size(200, 300, "square", 50) == (50, 50)
    with pytest.raises(Exception, match="cannot crop"):
        Crop(300).apply(torch.zeros(1, 3, 200, 300))


def test_route_names_say_what_happens():
    route = Route((Resize("long", 1080, "lanczos", "pillow"), Jpeg(75)), ModelInput("bilinear", "pillow"))
    assert route.name == "pillow-lanczos long 1080 > jpeg75 > pillow-bilinear 256/224"
    assert ModelInput("bicubic", "pillow", None).name == "pillow-bicubic square 224"


def test_sampler_is_seeded_and_covers_what_platforms_do():
    first, second = RouteSampler(3).sample_many(300), RouteSampler(3).sample_many(300)
    assert first == second
    assert RouteSampler(4).sample_many(20) != first[:20]
    assert any(route.model_input.ratio is None for route in first)  # whole frame
    assert any(route.model_input.position != (0.5, 0.5) for route in first)  # off-centre
    assert any(isinstance(view, Jpeg) for route in first for view in route.upload)
    sides = {view.size for route in first for view in route.upload if isinstance(view, Resize)}
    assert sides == {2048, 1080, 720}
    assert {route.model_input.kernel for route in first} == {"bilinear", "bicubic", "area"}
    assert {route.model_input.antialias for route in first} == {True, False}


def test_routed_model_classifies_each_route_in_one_batch():
    model = tiny_classifier()
    images = imageio.rgb_to_tensor(photo(5))[None]
    routes = [Route(), Route((Jpeg(70),), ModelInput("area", "torch", None)), Route((), ModelInput(ratio=1.3, position=(0, 1)))]
    logits = RoutedModel(model)(images, routes)
    assert logits.shape == (3, 6)
    for row, route in zip(logits, routes):
        expected = model.classify_input(route.apply(images, 32))[0]
        assert torch.allclose(row, expected, atol=1e-5)
    # The model's own preprocessing is one route among them.
    own = Route((), ModelInput("bilinear", "torch", 40 / 32))
    assert torch.allclose(RoutedModel(model)(images, [own])[0], model(images)[0], atol=1e-5)
