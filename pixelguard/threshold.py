"""The colour-variance threshold map (CV-PIRE): how far each pixel's colour may move.

Sweere's map (CV-PIRE, MediaEval 2019 Pixel Privacy task): for each pixel p and each neighbour
offset o of an n x n window that stays inside the image,
raw(p) = sqrt(mean over o of (g(o) * DeltaE00(Lab(p), Lab(p+o)))^2), with the
Gaussian weight g applied before squaring and border pixels averaging over their own, smaller set
of neighbours; the map is raw / max(raw). Busy regions score near 1, flat ones near 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pixelguard.colour import LabComponents, delta_e_2000_squared, lab_components, srgb_to_lab
from pixelguard.errors import PixelGuardError

# Pixels per tile: on the CPU about 1 MB per float32 intermediate, which keeps the working set in the
# caches and the operations few (2^18 measured fastest of 2^16 to 2^19 on 2 cores); on a GPU
# enough to keep it busy.
_CPU_TILE_PIXELS = 1 << 18
_GPU_TILE_PIXELS = 1 << 22
# Colour differences below this count as none: far below one 8-bit step (about 0.1), far above
# float32 rounding in the Lab conversion (about 1e-5), which max-scaling would blow up to 1.
_FLAT_DELTA_E = 1e-3


def colour_variance_map(
    image: torch.Tensor, window: int = 5, sigma: float = 1.0, *, normalise: bool = True
) -> torch.Tensor:
    """The HxW map cV in [0,1] (max 1; all zeros for a flat image) of a (3,H,W) or (1,3,H,W) image.

    An image counts as flat when no weighted colour difference reaches _FLAT_DELTA_E. With
    `normalise=False` the raw map is returned, in CIEDE2000 units times the Gaussian weight, so
    that one photo's values compare with another's (the perceptual budget needs that).

    Computed without grad, in float32 (float64 stays float64), on the image's device, tile by
    tile (full-width bands of rows plus a halo of window // 2 rows) so memory stays bounded.
    """
    check_window(window, sigma)
    image = _as_chw(image)
    _, height, width = image.shape
    if height * width < 2:
        raise PixelGuardError("the threshold map needs an image of at least 2 pixels")
    if image.dtype != torch.float64:
        image = image.float()
    radius = window // 2
    # DeltaE00 is symmetric and g(o) = g(-o): each pair of opposite offsets is evaluated once.
    offsets = [(dy, dx) for dy in range(radius + 1) for dx in range(-radius, radius + 1) if dy > 0 or dx > 0]
    weights_squared = [_gaussian_weight(dy, dx, sigma) ** 2 for dy, dx in offsets]
    tile_pixels = _CPU_TILE_PIXELS if image.device.type == "cpu" else _GPU_TILE_PIXELS
    rows_per_tile = max(1, tile_pixels // width)

    with torch.no_grad():
        square_sums = torch.empty(height, width, dtype=image.dtype, device=image.device)
        for top in range(0, height, rows_per_tile):
            bottom = min(height, top + rows_per_tile)
            square_sums[top:bottom] = _weighted_square_sums(image, top, bottom, radius, offsets, weights_squared)
        raw = square_sums.clamp_(min=0.0).div_(_neighbour_counts(height, width, radius, image)).sqrt_()
        if not normalise:
            return raw
        peak = raw.max()
        if peak <= _FLAT_DELTA_E * math.sqrt(max(weights_squared)):
            return raw.zero_()
        return raw.div_(peak)


# Beyond these the Gaussian weights of the far neighbours are negligible while the work grows
# with window² (window 999 ran for minutes): a colour-variance window is a few pixels wide.
MAX_WINDOW = 15
MAX_SIGMA = 10.0


def check_window(window: int, sigma: float) -> None:
    """The colour-variance window (odd, 3..MAX_WINDOW) and Gaussian sigma, or a one-line error."""
    if (isinstance(window, bool) or not isinstance(window, int) or window < 3 or window % 2 == 0
            or window > MAX_WINDOW):
        raise PixelGuardError(f"the threshold-map window must be an odd whole number from 3 to {MAX_WINDOW} "
                              f"(got {window!r})")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and 0 < sigma <= MAX_SIGMA):
        raise PixelGuardError(f"the threshold-map sigma must be a number above 0 and at most {MAX_SIGMA:g} "
                              f"(got {sigma!r})")


def _as_chw(image: torch.Tensor) -> torch.Tensor:
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3 or not torch.is_floating_point(image):
        raise ValueError(f"expected a float (3,H,W) or (1,3,H,W) image, got {image.dtype} {tuple(image.shape)}")
    return image


def _gaussian_weight(dy: int, dx: int, sigma: float) -> float:
    return math.exp(-(dy * dy + dx * dx) / (2.0 * sigma * sigma)) / (2.0 * math.pi * sigma * sigma)


def _weighted_square_sums(
    image: torch.Tensor, top: int, bottom: int, radius: int, offsets: list[tuple[int, int]], weights_squared: list[float]
) -> torch.Tensor:
    """sum over in-image offsets o of (g(o) DeltaE00(p, p+o))^2 for the pixels p of rows [top, bottom)."""
    height, width = image.shape[1:]
    first_row = max(0, top - radius)
    last_row = min(height, bottom + radius)
    terms = lab_components(srgb_to_lab(image[:, first_row:last_row]))
    sums = torch.zeros(last_row - first_row, width, dtype=image.dtype, device=image.device)
    for (dy, dx), weight_squared in zip(offsets, weights_squared):
        # Pairs (p, p+o) with p or p+o in rows [top, bottom); sums of halo rows are dropped.
        row_start = max(top - dy, first_row) - first_row
        row_end = min(bottom, last_row - dy) - first_row
        column_start, column_end = max(0, -dx), width - max(0, dx)
        if row_end <= row_start or column_end <= column_start:
            continue
        here = (slice(row_start, row_end), slice(column_start, column_end))
        there = (slice(row_start + dy, row_end + dy), slice(column_start + dx, column_end + dx))
        squared = delta_e_2000_squared(_select(terms, here), _select(terms, there))
        sums[here].add_(squared, alpha=weight_squared)
        sums[there].add_(squared, alpha=weight_squared)
    return sums[top - first_row : bottom - first_row]


def _select(terms: LabComponents, region: tuple[slice, slice]) -> LabComponents:
    return LabComponents(*(term[region] for term in terms))


def _neighbour_counts(height: int, width: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """|N(p)|: in-image neighbours of each pixel (no padding)."""

    def per_axis(size: int) -> torch.Tensor:
        position = torch.arange(size, device=like.device)
        return position.clamp(max=radius) + (size - 1 - position).clamp(max=radius) + 1

    return (per_axis(height)[:, None] * per_axis(width)[None, :] - 1).to(like.dtype)


# A small perceptual colour map: viridis (Smith, van der Walt, Firing; CC0) at entries 0, 16, ...,
# 240 and 255 of its 256-entry table, interpolated linearly in between.
_VIRIDIS_ANCHORS = np.array(
    [
        [0.267004, 0.004874, 0.329415],
        [0.282327, 0.094955, 0.417331],
        [0.278826, 0.175490, 0.483397],
        [0.258965, 0.251537, 0.524736],
        [0.229739, 0.322361, 0.545706],
        [0.199430, 0.387607, 0.554642],
        [0.172719, 0.448791, 0.557885],
        [0.149039, 0.508051, 0.557250],
        [0.127568, 0.566949, 0.550556],
        [0.120638, 0.625828, 0.533488],
        [0.157851, 0.683765, 0.501686],
        [0.246070, 0.738910, 0.452024],
        [0.369214, 0.788888, 0.382914],
        [0.515992, 0.831158, 0.294279],
        [0.678489, 0.863742, 0.189503],
        [0.845561, 0.887322, 0.099702],
        [0.993248, 0.906157, 0.143936],
    ]
)
_VIRIDIS_ANCHOR_POSITIONS = np.r_[np.arange(0, 256, 16), 255] / 255.0
_VIRIDIS_LUT = np.rint(
    255.0 * np.stack([np.interp(np.arange(256) / 255.0, _VIRIDIS_ANCHOR_POSITIONS, channel) for channel in _VIRIDIS_ANCHORS.T], axis=1)
).astype(np.uint8)


def heat_map_image(cv_map: torch.Tensor | np.ndarray) -> np.ndarray:
    """The map (values in [0,1]) as an HxWx3 uint8 viridis heat map: dark blue flat, yellow busy."""
    values = torch.as_tensor(cv_map).detach().float().clamp(0.0, 1.0).cpu().numpy()
    return _VIRIDIS_LUT[np.rint(values * 255.0).astype(np.intp)]


def heat_map_legend(steps: int = 5) -> list[tuple[float, tuple[int, int, int]]]:
    """(map value, (r, g, b)) at `steps` evenly spaced values from 0 to 1, for drawing a legend."""
    if steps < 2:
        raise ValueError("a legend needs at least 2 steps")
    values = np.linspace(0.0, 1.0, steps)
    return [(float(value), tuple(int(c) for c in _VIRIDIS_LUT[round(value * 255.0)])) for value in values]
