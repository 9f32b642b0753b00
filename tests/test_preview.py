import numpy as np

from pixelguard.preview import amplified_difference, threshold_heat_map
from pixelguard.threshold import colour_variance_map, heat_map_image
from pixelguard.imageio import rgb_to_tensor


def test_amplified_difference_stretches_the_largest_change():
    original = np.full((4, 4, 3), 100, dtype=np.uint8)
    protected = original.copy()
    protected[0, 0, 0] = 103
    protected[1, 1, 2] = 98
    picture, factor = amplified_difference(original, protected)
    assert factor == 42  # 127 // 3
    assert picture[0, 0, 0] == 128 + 3 * 42 and picture[1, 1, 2] == 128 - 2 * 42
    assert (picture[2:, 2:] == 128).all()


def test_amplified_difference_of_identical_images_is_flat_grey():
    image = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    picture, factor = amplified_difference(image, image)
    assert factor == 1 and (picture == 128).all()


def test_threshold_heat_map_matches_the_engine_map():
    rgb = np.random.default_rng(1).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    expected = heat_map_image(colour_variance_map(rgb_to_tensor(rgb)))
    assert np.array_equal(threshold_heat_map(rgb), expected)
    assert threshold_heat_map(rgb).shape == (12, 10, 3)
