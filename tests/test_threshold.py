"""The colour-variance threshold map against a direct per-pixel reading of ALGORITHMS.md section 2."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import skimage.color
import torch
from PIL import Image

with warnings.catch_warnings():  # colour-science warns that matplotlib is absent
    warnings.simplefilter("ignore")
    import colour

from pixelguard import threshold
from pixelguard.colour import srgb_to_lab
from pixelguard.devices import resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.threshold import colour_variance_map, heat_map_image, heat_map_legend


def reference_map(rgb: np.ndarray, window: int = 5, sigma: float = 1.0, weight_before_squaring: bool = True) -> np.ndarray:
    """Pixel by pixel: each pixel's in-image neighbours, DeltaE00 by colour-science, no padding."""
    lab = skimage.color.rgb2lab(rgb)
    height, width = rgb.shape[:2]
    radius = window // 2
    raw = np.zeros((height, width))
    for y in range(height):
        for x in range(width):
            neighbours, weights = [], []
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    if (dy, dx) != (0, 0) and 0 <= y + dy < height and 0 <= x + dx < width:
                        neighbours.append(lab[y + dy, x + dx])
                        weights.append(math.exp(-(dy * dy + dx * dx) / (2 * sigma**2)) / (2 * math.pi * sigma**2))
            distances = colour.delta_E(np.broadcast_to(lab[y, x], (len(neighbours), 3)), np.array(neighbours), method="CIE 2000")
            weights = np.array(weights)
            terms = (weights * distances) ** 2 if weight_before_squaring else weights * distances**2
            raw[y, x] = math.sqrt(terms.sum() / len(neighbours))
    return raw / raw.max()


def as_tensor(rgb: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(rgb / 255.0, dtype=dtype).permute(2, 0, 1)


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


@pytest.mark.parametrize("window, sigma", [(5, 1.0), (3, 1.0), (5, 2.0), (7, 1.5)])
def test_tiny_image_matches_the_per_pixel_definition_including_borders(window, sigma):
    rgb = random_image(6, 9, seed=window)
    expected = reference_map(rgb, window, sigma)
    computed = colour_variance_map(as_tensor(rgb), window, sigma)
    assert computed.shape == (6, 9) and computed.dtype == torch.float32
    np.testing.assert_allclose(computed.numpy(), expected, atol=1e-4, rtol=0)


def test_weight_multiplies_delta_e_before_squaring():
    rgb = random_image(5, 5, seed=11)
    computed = colour_variance_map(as_tensor(rgb, torch.float64)).numpy()
    np.testing.assert_allclose(computed, reference_map(rgb), atol=1e-6)
    # The other reading, g * DeltaE^2, gives a visibly different map on the same image.
    assert np.abs(computed - reference_map(rgb, weight_before_squaring=False)).max() > 1e-2


def test_real_photo_crop_matches_the_definition(shared_dir):
    rgb = np.array(Image.open(shared_dir / "photos" / "parrot.jpg").convert("RGB"))[300:324, 200:232]
    computed = colour_variance_map(as_tensor(rgb))
    np.testing.assert_allclose(computed.numpy(), reference_map(rgb), atol=1e-4, rtol=0)


def test_maximum_is_one_and_values_lie_in_0_1():
    cv_map = colour_variance_map(as_tensor(random_image(20, 30, seed=1)))
    assert cv_map.max().item() == 1.0 and cv_map.min().item() >= 0.0


@pytest.mark.parametrize("grey", [0.0, 0.4, 1.0])
def test_flat_image_gives_zeros_without_nan(grey):
    assert torch.equal(colour_variance_map(torch.full((3, 30, 41), grey)), torch.zeros(30, 41))
    assert torch.equal(colour_variance_map(torch.full((3, 30, 41), grey, dtype=torch.float64)), torch.zeros(30, 41, dtype=torch.float64))


def test_one_8_bit_step_is_not_flat():
    image = torch.full((3, 9, 9), 0.5)
    image[1, 4, 4] += 1 / 255
    cv_map = colour_variance_map(image)
    assert cv_map[4, 4] == 1.0 and cv_map[0, 0] < 1e-3


def test_two_pixels_and_a_single_row_work_but_one_pixel_is_refused():
    assert torch.equal(colour_variance_map(torch.tensor([[[0.0, 1.0]]] * 3)), torch.ones(1, 2))
    assert colour_variance_map(as_tensor(random_image(1, 7))).shape == (1, 7)
    with pytest.raises(PixelGuardError, match="at least 2 pixels"):
        colour_variance_map(torch.zeros(3, 1, 1))


def test_tiles_give_the_same_map_as_one_piece(monkeypatch):
    image = as_tensor(random_image(40, 23, seed=2))
    whole = colour_variance_map(image)
    for tile_pixels in (23, 3 * 23, 7 * 23 + 5):  # one row, fewer rows than the halo, uneven bands
        monkeypatch.setattr(threshold, "_CPU_TILE_PIXELS", tile_pixels)
        torch.testing.assert_close(colour_variance_map(image), whole, atol=1e-6, rtol=0)


def test_accepts_a_batch_of_one_and_keeps_float64():
    image = as_tensor(random_image(8, 8, seed=3), torch.float64)
    cv_map = colour_variance_map(image[None])
    assert cv_map.dtype == torch.float64
    torch.testing.assert_close(cv_map, colour_variance_map(image))


def test_does_not_track_gradients():
    image = as_tensor(random_image(8, 8, seed=4)).requires_grad_()
    assert not colour_variance_map(image).requires_grad


@pytest.mark.parametrize("window", [4, 2, 1, 0, -3, 5.0, True, 17, 999])
def test_rejects_bad_windows(window):
    with pytest.raises(PixelGuardError, match="window must be an odd whole number from 3 to 15"):
        colour_variance_map(torch.zeros(3, 8, 8), window=window)


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan"), float("inf"), 10.5])
def test_rejects_bad_sigmas(sigma):
    with pytest.raises(PixelGuardError, match="sigma must be a number above 0 and at most 10"):
        colour_variance_map(torch.zeros(3, 8, 8), sigma=sigma)


def test_rejects_images_that_are_not_3_channel_floats():
    with pytest.raises(ValueError):
        colour_variance_map(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError):
        colour_variance_map(torch.zeros(3, 8, 8, dtype=torch.uint8))


def test_heat_map_is_viridis_with_rising_lightness():
    values = torch.linspace(0, 1, 256).reshape(16, 16)
    heat = heat_map_image(values)
    assert heat.shape == (16, 16, 3) and heat.dtype == np.uint8
    # viridis runs from #440154 to #fde725 (matplotlib's table, entries 0 and 255).
    assert tuple(heat[0, 0]) == (0x44, 0x01, 0x54) and tuple(heat[-1, -1]) == (0xFD, 0xE7, 0x25)
    # Perceptually ordered, darker means flatter: lightness rises, up to 8-bit rounding.
    lightness = srgb_to_lab(torch.tensor(heat.reshape(-1, 3) / 255.0), channel_dim=-1)[:, 0]
    assert torch.all(lightness[16::16] > lightness[:-16:16] + 4.0)
    assert torch.all(lightness[1:] > lightness[:-1] - 0.05)
    assert np.array_equal(heat_map_image(values.numpy()), heat)


def test_legend_lists_evenly_spaced_values_and_their_heat_map_colours():
    legend = heat_map_legend(5)
    assert [value for value, _ in legend] == [0.0, 0.25, 0.5, 0.75, 1.0]
    colours = heat_map_image(np.array([[value for value, _ in legend]]))[0]
    assert [rgb for _, rgb in legend] == [tuple(int(c) for c in pixel) for pixel in colours]
    with pytest.raises(ValueError):
        heat_map_legend(1)


@pytest.mark.gpu
def test_accelerator_map_matches_the_cpu_map():
    device = resolve_device("auto")
    if device.type == "cpu":
        pytest.skip("no CUDA or MPS device")
    image = as_tensor(random_image(300, 257, seed=6))
    on_device = colour_variance_map(image.to(device))
    assert on_device.device.type == device.type
    torch.testing.assert_close(on_device.cpu(), colour_variance_map(image), atol=1e-4, rtol=0)
