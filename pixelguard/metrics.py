"""Image quality figures for a protected photo against its original: SSIM, PSNR, DeltaE00, Linf.

Inputs: HxWx3 uint8 NumPy arrays (decoded 8-bit photos) or (3,H,W) float tensors in [0,1], in any
mix; both images must have the same size. Work is done in bands of rows, so a 12-megapixel
photo needs only a few hundred MB at a time; tensors stay on their device.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Union

import numpy as np
import torch

from pixelguard.colour import delta_e_2000, srgb_to_lab

ImageLike = Union[np.ndarray, torch.Tensor]

# Rows per band are chosen so that a band holds about this many pixels.
_BAND_PIXELS = 1 << 18
# SSIM as skimage.metrics.structural_similarity(..., channel_axis=-1, data_range=255) computes it:
# 7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03, scores of full windows only.
_SSIM_WINDOW = 7
_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2
_SAMPLE_COVARIANCE = _SSIM_WINDOW**2 / (_SSIM_WINDOW**2 - 1)


class DeltaEStats(NamedTuple):
    """Per-pixel CIEDE2000 between two images: mean, 95th percentile (linear interpolation), max."""

    mean: float
    p95: float
    max: float


def ssim(a: ImageLike, b: ImageLike) -> float:
    """Mean SSIM over the three channels, as skimage computes it for RGB with data_range=255."""
    first, second = _as_chw_pair(a, b)
    height, width = first.shape[1:]
    if height < _SSIM_WINDOW or width < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels, got {width}x{height}")
    halo = _SSIM_WINDOW - 1
    total = 0.0
    for top, bottom in _bands(height - halo, width):
        # A band of window centres needs its rows plus the window's extent below them. Centring the
        # values on 0.5 keeps E[x^2] - E[x]^2 accurate in float32.
        x = _to_float(first[:, top : bottom + halo], torch.float32).sub_(0.5)
        y = _to_float(second[:, top : bottom + halo], torch.float32).sub_(0.5)
        mean_x, mean_y = _box_mean(x), _box_mean(y)
        variance_x = _box_mean(x * x).sub_(mean_x * mean_x).mul_(_SAMPLE_COVARIANCE)
        variance_y = _box_mean(y * y).sub_(mean_y * mean_y).mul_(_SAMPLE_COVARIANCE)
        covariance = _box_mean(x * y).sub_(mean_x * mean_y).mul_(_SAMPLE_COVARIANCE)
        mean_x += 0.5
        mean_y += 0.5
        numerator = (2 * mean_x * mean_y + _SSIM_C1) * (2 * covariance + _SSIM_C2)
        denominator = (mean_x * mean_x + mean_y * mean_y + _SSIM_C1) * (variance_x + variance_y + _SSIM_C2)
        total += float((numerator / denominator).sum(dtype=torch.float64))
    return total / (3 * (height - halo) * (width - halo))


def _box_mean(values: torch.Tensor) -> torch.Tensor:
    """Means over every full 7x7 window of the last two axes, as running sums of shifted slices."""
    size = _SSIM_WINDOW
    columns = values.shape[-1] - size + 1
    row_sums = values[..., :columns].clone()
    for shift in range(1, size):
        row_sums += values[..., shift : shift + columns]
    rows = values.shape[-2] - size + 1
    sums = row_sums[..., :rows, :].clone()
    for shift in range(1, size):
        sums += row_sums[..., shift : shift + rows, :]
    return sums.div_(size * size)


def psnr(a: ImageLike, b: ImageLike) -> float:
    """Peak signal-to-noise ratio in dB for a peak of 255 (8-bit) / 1.0 (float); inf if identical."""
    first, second = _as_chw_pair(a, b)
    height, width = first.shape[1:]
    dtype = _accumulation_dtype(first.device)
    squared_error = torch.zeros((), dtype=dtype, device=first.device)
    for top, bottom in _bands(height, width):
        difference = _to_float(first[:, top:bottom], dtype) - _to_float(second[:, top:bottom], dtype)
        squared_error += (difference * difference).sum()
    mean_squared_error = float(squared_error) / first.numel()
    return float("inf") if mean_squared_error == 0 else float(10.0 * np.log10(1.0 / mean_squared_error))


def delta_e_stats(a: ImageLike, b: ImageLike) -> DeltaEStats:
    """Mean, 95th percentile and maximum per-pixel CIEDE2000 between the two images."""
    first, second = _as_chw_pair(a, b)
    height, width = first.shape[1:]
    per_pixel = np.empty((height, width), dtype=np.float32)
    with torch.no_grad():
        for top, bottom in _bands(height, width):
            lab_first = srgb_to_lab(_to_float(first[:, top:bottom], torch.float32))
            lab_second = srgb_to_lab(_to_float(second[:, top:bottom], torch.float32))
            per_pixel[top:bottom] = delta_e_2000(lab_first, lab_second).cpu().numpy()
    return DeltaEStats(
        mean=float(per_pixel.mean(dtype=np.float64)),
        p95=float(np.percentile(per_pixel, 95)),
        max=float(per_pixel.max()),
    )


def linf(a: ImageLike, b: ImageLike) -> float:
    """Largest change of any channel of any pixel, in 8-bit units (exact for two 8-bit images)."""
    first, second = _as_chw_pair(a, b)
    both_8_bit = first.dtype == second.dtype == torch.uint8
    largest = 0.0
    for top, bottom in _bands(*first.shape[1:]):
        if both_8_bit:
            difference = first[:, top:bottom].short() - second[:, top:bottom].short()
        else:
            difference = 255.0 * (_to_float(first[:, top:bottom], torch.float64) - _to_float(second[:, top:bottom], torch.float64))
        largest = max(largest, float(difference.abs().max()))
    return largest


def _as_chw_pair(a: ImageLike, b: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as (3,H,W) tensors (uint8 views of NumPy input, no copy) on a's device."""
    first, second = _as_chw(a), _as_chw(b)
    if first.shape != second.shape:
        raise ValueError(f"images differ in size: {tuple(first.shape)} vs {tuple(second.shape)}")
    return first, second.to(first.device)


def _as_chw(image: ImageLike) -> torch.Tensor:
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 array, got {image.dtype} {image.shape}")
        return torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1)
    if image.dim() != 3 or image.shape[0] != 3 or not torch.is_floating_point(image):
        raise ValueError(f"expected a (3,H,W) float tensor in [0,1], got {image.dtype} {tuple(image.shape)}")
    return image.detach()


def _to_float(band: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A band as floats in [0,1]: 8-bit values are divided by 255."""
    return band.to(dtype) / 255.0 if band.dtype == torch.uint8 else band.to(dtype)


def _accumulation_dtype(device: torch.device) -> torch.dtype:
    # float64 keeps E[x^2] - E[x]^2 exact enough; Apple's MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _bands(height: int, width: int) -> Iterator[tuple[int, int]]:
    """(top, bottom) row ranges covering [0, height) with about _BAND_PIXELS pixels each."""
    rows = max(1, _BAND_PIXELS // max(1, width))
    for top in range(0, height, rows):
        yield top, min(height, top + rows)
