"""Quality metrics against scikit-image and colour-science."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.color
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

with warnings.catch_warnings():  # colour-science warns that matplotlib is absent
    warnings.simplefilter("ignore")
    import colour

from pixelguard import metrics
from pixelguard.imageio import rgb_to_tensor
from pixelguard.metrics import delta_e_stats, linf, psnr, ssim


def photo_and_perturbed(shared_dir, name: str = "owl.jpg", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    original = np.array(Image.open(shared_dir / "photos" / name).convert("RGB"))
    rng = np.random.default_rng(seed)
    noise = rng.integers(-8, 9, original.shape) * (rng.random(original.shape[:2]) < 0.5)[..., None]
    return original, np.clip(original.astype(int) + noise, 0, 255).astype(np.uint8)


def synthetic_pair(height: int = 37, width: int = 53, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    second = np.clip(first.astype(int) + rng.integers(-20, 21, first.shape), 0, 255).astype(np.uint8)
    return first, second


def test_ssim_matches_skimage_on_a_photo(shared_dir):
    original, perturbed = photo_and_perturbed(shared_dir)
    expected = structural_similarity(original, perturbed, channel_axis=-1, data_range=255)
    assert ssim(original, perturbed) == pytest.approx(expected, abs=1e-5)
    assert ssim(rgb_to_tensor(original), rgb_to_tensor(perturbed)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("size", [(7, 7), (8, 30), (37, 53)])
def test_ssim_matches_skimage_on_noise(size):
    first, second = synthetic_pair(*size)
    expected = structural_similarity(first, second, channel_axis=-1, data_range=255)
    assert ssim(first, second) == pytest.approx(expected, abs=1e-5)


def test_ssim_bands_give_the_same_result(monkeypatch):
    first, second = synthetic_pair(40, 25)
    whole = ssim(first, second)
    monkeypatch.setattr(metrics, "_BAND_PIXELS", 25 * 3)  # 3 rows of window centres per band
    assert ssim(first, second) == pytest.approx(whole, abs=1e-12)


def test_ssim_of_identical_images_is_one_and_small_images_are_refused():
    first, _ = synthetic_pair()
    assert ssim(first, first) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(first[:6], first[:6])


def test_psnr_matches_skimage_and_is_infinite_for_identical_images():
    first, second = synthetic_pair()
    expected = peak_signal_noise_ratio(first, second, data_range=255)
    assert psnr(first, second) == pytest.approx(expected, abs=1e-9)
    assert psnr(rgb_to_tensor(first), rgb_to_tensor(second)) == pytest.approx(expected, abs=1e-4)
    assert psnr(first, first) == float("inf")


def test_delta_e_stats_match_colour_science_per_pixel(shared_dir):
    original, perturbed = photo_and_perturbed(shared_dir, "hot_dog.jpg")
    per_pixel = colour.delta_E(skimage.color.rgb2lab(original), skimage.color.rgb2lab(perturbed), method="CIE 2000")
    stats = delta_e_stats(original, perturbed)
    assert stats.mean == pytest.approx(per_pixel.mean(), abs=1e-4)
    assert stats.p95 == pytest.approx(np.percentile(per_pixel, 95), abs=1e-4)
    assert stats.max == pytest.approx(per_pixel.max(), abs=1e-4)


def test_delta_e_stats_across_bands(monkeypatch):
    first, second = synthetic_pair()
    whole = delta_e_stats(first, second)
    monkeypatch.setattr(metrics, "_BAND_PIXELS", 53 * 4)
    assert delta_e_stats(first, second) == pytest.approx(whole, abs=1e-5)
    assert delta_e_stats(first, first) == (0.0, 0.0, 0.0)


def test_linf_in_8_bit_units():
    first, second = synthetic_pair()
    expected = np.abs(first.astype(int) - second.astype(int)).max()
    assert linf(first, second) == expected
    assert linf(rgb_to_tensor(first), second) == pytest.approx(expected, abs=1e-3)
    changed = first.copy()
    changed[5, 7, 2] = 255 - changed[5, 7, 2]
    assert linf(first, changed) == abs(255 - 2 * int(first[5, 7, 2]))


def test_mismatched_or_malformed_inputs_are_refused():
    first, _ = synthetic_pair()
    with pytest.raises(ValueError, match="differ in size"):
        psnr(first, first[:-1])
    with pytest.raises(ValueError, match="uint8"):
        linf(first.astype(np.float32), first)
    with pytest.raises(ValueError, match=r"\(3,H,W\)"):
        ssim(rgb_to_tensor(first)[None], first)
