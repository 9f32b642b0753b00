"""The relational mask on a tiny model with a known Jacobian, and the KAA method end to end."""

import numpy as np
import pytest
import torch
from PIL import Image

from pixelguard import imageio
from pixelguard.attacks.kaa import (
    mask_from_ternary,
    relational_jacobian,
    relational_mask,
    ternarise,
)
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.threshold import colour_variance_map
from test_protect import textured_photo
from toy_models import ToyClassifier, paper_settings


class LinearFeatures(torch.nn.Module):
    """features(x) = W x on the flattened (3,h,w) image: its Jacobian is W."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = weight

    def features(self, images):
        return images.flatten(1) @ self.weight.T


class ToyWithFeatures(ToyClassifier):
    """The toy classifier with its pooled colours exposed as the feature layer."""

    def features(self, images):
        return 4 * (torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1) - 0.5)


def reference_mask(weight: np.ndarray, shape, quantile: float) -> np.ndarray:
    """Section 8 from the definition, with NumPy: per-row quantile threshold, then C."""
    positive = np.zeros(shape[1:], bool)
    negative = np.zeros(shape[1:], bool)
    for row in weight:
        alpha = np.quantile(np.abs(row), quantile)
        relation = row.reshape(shape)
        positive |= (relation > alpha).any(axis=0)
        negative |= (relation < -alpha).any(axis=0)
    return (positive & negative).astype(np.float32)


def test_exact_jacobian_rows_when_the_layer_is_small():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 3 * 5 * 4, generator=generator)
    image = torch.rand(3, 5, 4, generator=generator)
    jacobian = relational_jacobian(LinearFeatures(weight).features, image, samples=16)
    assert torch.allclose(jacobian.flatten(1), weight, atol=1e-6)


def test_random_projections_give_projected_jacobian_rows():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(40, 3 * 4 * 4, generator=generator)
    image = torch.rand(3, 4, 4)
    jacobian = relational_jacobian(LinearFeatures(weight).features, image, samples=10,
                                   generator=torch.Generator().manual_seed(7))
    projections = torch.randn(10, 40, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(jacobian.flatten(1), projections @ weight, atol=1e-4)


def test_ternarise_uses_a_per_output_quantile():
    rows = torch.tensor([[0.1, -5.0, 3.0, 0.2, -0.3], [10.0, -20.0, 1.0, 0.5, 30.0]])
    ternary = ternarise(rows, quantile=0.5)
    # Row medians of |J|: 0.3 and 10.0 -- a single global threshold would zero the first row.
    assert ternary.tolist() == [[0, -1, 1, 0, 0], [0, -1, 0, 0, 1]]


def test_mask_needs_both_strong_signs():
    ternary = torch.zeros(2, 3, 2, 2, dtype=torch.int8)
    ternary[0, 0, 0, 0] = 1
    ternary[1, 2, 0, 0] = -1  # pixel (0,0): + from output 0, - from output 1 (other channel)
    ternary[0, 1, 1, 1] = 1  # pixel (1,1): positive only
    assert mask_from_ternary(ternary).tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_relational_mask_on_a_tiny_model_matches_the_definition():
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(8, 3 * 6 * 7, generator=generator)
    image = torch.rand(3, 6, 7, generator=generator)
    mask = relational_mask(LinearFeatures(weight), image, samples=16, quantile=0.8)
    expected = reference_mask(weight.numpy(), (3, 6, 7), 0.8)
    assert np.array_equal(mask.numpy(), expected)
    assert 0 < expected.mean() < 1


def test_relational_mask_is_upsampled_from_model_resolution():
    model = ToyWithFeatures()
    image = imageio.rgb_to_tensor(textured_photo(1, size=(96, 64)))
    mask = relational_mask(model, image, side=16)
    assert mask.shape == (64, 96)
    assert float(mask.min()) >= 0 and float(mask.max()) <= 1


def test_kaa_keeps_the_change_inside_the_mask(tmp_path):
    Image.fromarray(textured_photo(1)).save(tmp_path / "a.png")
    settings = paper_settings(model="toy", device="cpu", method="kaa", condition="top1", strength=16, l1=0,
                               max_iter=60)
    protector = Protector(settings, model=ToyWithFeatures())
    record = next(protect_batch([Job(tmp_path / "a.png", tmp_path / "out.png")], protector, keep_failed=True))
    assert record.status in ("protected", "failed")
    original = imageio.load_image(tmp_path / "a.png").rgb
    saved = imageio.load_image(record.output).rgb
    image = imageio.rgb_to_tensor(original)
    budget = (colour_variance_map(image) * 16 * relational_mask(protector.model, image)).numpy()
    change = np.abs(saved.astype(int) - original.astype(int)).max(axis=2)
    assert (change <= budget + 1e-4).all()
    assert change.max() > 0 and (change[budget < 1] == 0).all()


def test_kaa_needs_a_feature_layer(tmp_path):
    Image.fromarray(textured_photo(1)).save(tmp_path / "a.png")
    protector = Protector(paper_settings(model="toy", device="cpu", method="kaa", condition="top1"),
                          model=ToyClassifier())
    record = next(protect_batch([Job(tmp_path / "a.png", tmp_path / "out.png")], protector))
    assert record.status == "error" and "feature layer" in record.error


@pytest.mark.slow
def test_kaa_on_a_real_photo(photos, tmp_path):
    with Image.open(photos[0]) as photo:
        rgb = photo.convert("RGB")
        rgb.thumbnail((192, 192))
        rgb.save(tmp_path / "photo.png")
    protector = Protector(paper_settings(device="cpu", method="kaa", condition="top1", max_iter=10))
    record = next(protect_batch([Job(tmp_path / "photo.png", tmp_path / "out.png")], protector))
    assert record.status in ("protected", "failed")
    assert record.budget_used is not None and record.ssim > 0.97
    if record.success:
        assert record.after[0][0] != record.label
