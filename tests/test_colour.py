"""sRGB -> CIELAB and CIEDE2000 against skimage, colour-science and Sharma's published test data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.color
import torch

with warnings.catch_warnings():  # colour-science warns that matplotlib is absent
    warnings.simplefilter("ignore")
    import colour

from pixelguard.devices import resolve_device
from pixelguard.colour import delta_e_2000, srgb_to_lab

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1, L2 a2 b2, DeltaE00.
SHARMA_PAIRS = np.array(
    [
        [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
        [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
        [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
        [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
        [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
        [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
        [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
        [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
        [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
        [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
        [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
        [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
        [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
        [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
        [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
        [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
        [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
        [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
        [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
        [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
    ]
)

def delta_e_lists(lab1: np.ndarray, lab2: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    return delta_e_2000(torch.tensor(lab1, dtype=dtype), torch.tensor(lab2, dtype=dtype), channel_dim=-1).double().numpy()


def random_lab_pairs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lab pairs over the whole gamut: small and large differences, greys, identical colours."""
    rng = np.random.default_rng(seed)
    first = rng.uniform([0, -110, -110], [100, 110, 110], (count, 3))
    second = first + rng.normal(0, 1, first.shape) * rng.choice([0.0, 0.3, 3.0, 30.0], (count, 1))
    first[: count // 10, 1:] = 0.0  # greys: zero chroma
    second[count // 20 : count // 10, 1:] = 0.0
    return first, second


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_sharma_pairs(dtype):
    # Pairs 9 to 15 sit within 0.005 deg of opposite hues, where the mean hue jumps by 180 deg.
    computed = delta_e_lists(SHARMA_PAIRS[:, :3], SHARMA_PAIRS[:, 3:6], dtype)
    np.testing.assert_allclose(computed, SHARMA_PAIRS[:, 6], atol=1e-4, rtol=0)


def test_exactly_opposite_hues_follow_sharmas_mean_hue_rule():
    # Mean hue (h1 + h2) / 2 of hues 180 deg apart: 90 deg for 0/180, 180 deg for 90/270.
    first = np.array([[50.0, 2.5, 0.0], [50.0, 0.0, 2.5], [50.0, -2.5, 0.0], [40.0, 3.0, -4.0]])
    second = np.array([[50.0, -2.5, 0.0], [50.0, 0.0, -2.5], [50.0, 2.5, 0.0], [60.0, -3.0, 4.0]])
    expected = colour.delta_E(first, second, method="CIE 2000")
    for dtype in (torch.float64, torch.float32):
        np.testing.assert_allclose(delta_e_lists(first, second, dtype), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_agrees_with_colour_science(dtype, tolerance):
    first, second = random_lab_pairs(20000)
    expected = colour.delta_E(first, second, method="CIE 2000")
    np.testing.assert_allclose(delta_e_lists(first, second, dtype), expected, atol=tolerance, rtol=0)


def test_symmetric_and_zero_for_identical_colours():
    first, second = random_lab_pairs(1000, seed=1)
    np.testing.assert_allclose(
        delta_e_lists(first, second, torch.float64), delta_e_lists(second, first, torch.float64), atol=1e-12
    )
    assert np.all(delta_e_lists(first, first, torch.float64) == 0.0)


def test_images_use_the_channel_axis_minus_3_by_default():
    rng = np.random.default_rng(2)
    first, second = rng.uniform(0, 1, (2, 2, 3, 4, 5))
    lab1, lab2 = srgb_to_lab(torch.tensor(first)), srgb_to_lab(torch.tensor(second))
    assert lab1.shape == (2, 3, 4, 5)
    image_result = delta_e_2000(lab1, lab2)
    assert image_result.shape == (2, 4, 5)
    list_result = delta_e_2000(lab1.movedim(1, -1), lab2.movedim(1, -1), channel_dim=-1)
    torch.testing.assert_close(image_result, list_result)


def test_broadcasts_colour_lists_into_a_table():
    first, second = random_lab_pairs(40, seed=6)
    table = delta_e_2000(torch.tensor(first[:, None]), torch.tensor(second[None, :]), channel_dim=-1)
    assert table.shape == (40, 40)
    expected = colour.delta_E(np.repeat(first[:, None], 40, axis=1), np.repeat(second[None, :], 40, axis=0), method="CIE 2000")
    np.testing.assert_allclose(table.numpy(), expected, atol=1e-8)


def test_rejects_a_wrong_channel_count_or_integer_input():
    with pytest.raises(ValueError, match="3 colour components"):
        srgb_to_lab(torch.zeros(4, 2, 2))
    with pytest.raises(TypeError, match="floating-point"):
        srgb_to_lab(torch.zeros(3, 2, 2, dtype=torch.uint8))


def eight_bit_grid() -> np.ndarray:
    levels = np.unique(np.r_[np.arange(0, 256, 5), 255]).astype(np.uint8)
    return np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_srgb_to_lab_agrees_with_skimage_on_8_bit_colours(dtype):
    colours = eight_bit_grid()
    expected = skimage.color.rgb2lab(colours[None])[0]
    computed = srgb_to_lab(torch.tensor(colours / 255.0, dtype=dtype), channel_dim=-1)
    assert computed.dtype == dtype
    np.testing.assert_allclose(computed.double().numpy(), expected, atol=1e-4, rtol=0)


def test_8_bit_colour_pairs_agree_with_skimage_and_colour_science():
    colours = eight_bit_grid()
    rng = np.random.default_rng(3)
    partners = np.clip(colours.astype(int) + rng.integers(-12, 13, colours.shape), 0, 255).astype(np.uint8)
    lab1, lab2 = skimage.color.rgb2lab(colours[None])[0], skimage.color.rgb2lab(partners[None])[0]
    expected = colour.delta_E(lab1, lab2, method="CIE 2000")
    np.testing.assert_allclose(skimage.color.deltaE_ciede2000(lab1, lab2), expected, atol=1e-8)
    computed = delta_e_2000(
        srgb_to_lab(torch.tensor(colours / 255.0, dtype=torch.float32), channel_dim=-1),
        srgb_to_lab(torch.tensor(partners / 255.0, dtype=torch.float32), channel_dim=-1),
        channel_dim=-1,
    )
    np.testing.assert_allclose(computed.double().numpy(), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gradients_are_finite_at_black_greys_and_identical_colours(dtype):
    rgb = torch.tensor(
        [[0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5], [1, 1, 1], [0.2, 0.4, 0.6], [0.01, 0.02, 0.0], [0.3, 0.3, 0.3]],
        dtype=dtype,
        requires_grad=True,
    )
    partner = torch.tensor(
        [[0, 0, 0], [0.4, 0.4, 0.4], [0.5, 0.5, 0.5], [0.9, 0.9, 0.9], [0.2, 0.4, 0.6], [0, 0, 0], [0.6, 0.2, 0.1]],
        dtype=dtype,
        requires_grad=True,
    )
    distance = delta_e_2000(srgb_to_lab(rgb, channel_dim=-1), srgb_to_lab(partner, channel_dim=-1), channel_dim=-1)
    distance.sum().backward()
    assert torch.isfinite(distance).all()
    assert torch.isfinite(rgb.grad).all() and torch.isfinite(partner.grad).all()
    assert rgb.grad[[4]].abs().sum() == 0  # identical colours: a minimum of the distance
    assert rgb.grad[[1, 3, 6]].abs().sum() > 0


def test_gradients_are_finite_for_exactly_opposite_hues():
    lab = torch.tensor([[50.0, 2.49, -0.001], [50.0, 0.0, 2.5]], dtype=torch.float64, requires_grad=True)
    partner = torch.tensor([[50.0, -2.49, 0.001], [50.0, 0.0, -2.5]], dtype=torch.float64)
    delta_e_2000(lab, partner, channel_dim=-1).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    rgb = torch.tensor(rng.uniform(0.05, 0.95, (6, 3)), requires_grad=True)
    partner = torch.tensor(rng.uniform(0.05, 0.95, (6, 3)))
    reference = srgb_to_lab(partner, channel_dim=-1)
    assert torch.autograd.gradcheck(
        lambda x: delta_e_2000(srgb_to_lab(x, channel_dim=-1), reference, channel_dim=-1), (rgb,)
    )


@pytest.mark.gpu
def test_runs_on_an_accelerator():
    device = resolve_device("auto")
    if device.type == "cpu":
        pytest.skip("no CUDA or MPS device")
    first, second = random_lab_pairs(5000, seed=5)
    lab1 = torch.tensor(first, dtype=torch.float32, device=device, requires_grad=True)
    lab2 = torch.tensor(second, dtype=torch.float32, device=device)
    distance = delta_e_2000(lab1, lab2, channel_dim=-1)
    distance.sum().backward()
    assert distance.device.type == device.type and torch.isfinite(lab1.grad).all()
    expected = colour.delta_E(first, second, method="CIE 2000")
    np.testing.assert_allclose(distance.detach().cpu().double().numpy(), expected, atol=1e-4, rtol=0)
    rgb = torch.rand(2, 3, 8, 8, device=device)
    torch.testing.assert_close(srgb_to_lab(rgb).cpu(), srgb_to_lab(rgb.cpu()), atol=1e-4, rtol=0)
