"""Pictures for people to inspect a protection: the budget map and the amplified change.

Qt-free, so the GUI only turns these arrays into pixmaps.
"""

from __future__ import annotations

import numpy as np

from pixelguard.imageio import rgb_to_tensor
from pixelguard.threshold import colour_variance_map, heat_map_image

MAX_AMPLIFICATION = 64


def threshold_heat_map(rgb: np.ndarray, window: int = 5, sigma: float = 1.0) -> np.ndarray:
    """The colour-variance map of an HxWx3 uint8 photo, as an HxWx3 uint8 heat map."""
    return heat_map_image(colour_variance_map(rgb_to_tensor(rgb), window=window, sigma=sigma))


def amplified_difference(original: np.ndarray, protected: np.ndarray) -> tuple[np.ndarray, int]:
    """The change made visible: mid-grey plus the difference times a factor, and that factor.

    The factor stretches the largest change to the full range (capped), so a change of a few
    8-bit levels shows clearly; the caller shows the factor next to the picture.
    """
    difference = protected.astype(np.int16) - original.astype(np.int16)
    largest = int(np.abs(difference).max())
    factor = 1 if largest == 0 else max(1, min(MAX_AMPLIFICATION, 127 // largest))
    return np.clip(128 + difference * factor, 0, 255).astype(np.uint8), factor
