"""The perceptual budget: how much each pixel may change, in CIEDE2000 units, and keeping to it.

The RGB budget of the colour-variance attack (`cvpire`) bounds each channel by m * cV with cV
max-scaled per photo: most pixels may move less than one 8-bit level, while pixels on an edge
against a flat region (the highest colour variance) get the largest budget and turn into
colour fringes. Here the bound is on what the eye measures, the CIEDE2000 difference between a
pixel's original and protected colour (Sharma, Wu, Dalal, "The CIEDE2000 color-difference
formula", Color Research & Application 30(1), 2005, doi:10.1002/col.20070), as PerC-AL does
(Zhao, Liu, Larson, "Towards Large yet Imperceptible Adversarial Image Perturbations with
Perceptual Color Distance", CVPR 2020, arXiv:1911.02466):

    DeltaE00(x(p), x'(p)) <= A(p),   A(p) = max_delta_e * (FLAT_SHARE + (1 - FLAT_SHARE) * T(p))

T(p) in [0, 1] is texture masking from the just-noticeable-difference literature: change hides
in texture, not on edges (Liu, Lu, Lin, Yang, Yao, Xu, "Just Noticeable Difference for Images
With Decomposition Model for Separating Edge and Textured Regions", IEEE TCSVT 20(11), 2010,
doi:10.1109/TCSVT.2010.2077474). T is the raw colour-variance map (threshold.py, not
max-scaled, so it means the same on every photo) *eroded*: each pixel takes the smallest
variance of its neighbourhood, so a pixel beside a flat region (sky, snow, a wall) gets the flat
region's small allowance and an edge against it cannot become a fringe. It is then divided by
TEXTURE_REFERENCE, capped at 1 and box-smoothed so the allowance has no steps.

Keeping to it: ΔE00 grows about linearly with a small change, so scaling each pixel's change
by min(1, A / ΔE00) three times lands within ~2% of it (the loop does it once per step, ~10%);
after 8-bit rounding the saved pixels are checked exactly and any pixel still over is shrunk
toward the original (`to_native`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelguard.colour import delta_e_2000, srgb_to_lab
from pixelguard.threshold import colour_variance_map

# Measured on ../shared/photos (docs/perceptual-budget.md): a flat region's raw variance is
# under 0.05, fine texture (fur, foliage, gravel) above 0.3.
TEXTURE_REFERENCE = 0.3
FLAT_SHARE = 0.25  # of max_delta_e, where nothing masks the change
EROSION_RADIUS = 4  # px: wider than the 5x5 window of the variance map, so edges lose their share
SMOOTHING_RADIUS = 2
DEFAULT_MAX_DELTA_E = 3.0
_BAND_PIXELS = 1 << 19
_EPSILON = 1e-6


# Step of the finite differences that fit the local metric: the size of a typical change.
_METRIC_STEP = 2 / 255
_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
_EIGEN_FLOOR = 0.05


@torch.no_grad()
def local_metric(image: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 near each pixel as a quadratic form in the RGB change v: ΔE00² ≈ vᵀ M v.

    For small changes ΔE00² is a quadratic form in ΔL, ΔC, ΔH with weights set by the original
    colour, and those are linear in v, so M (3x3, symmetric, per pixel) is fitted from six exact
    CIEDE2000 evaluations at steps of _METRIC_STEP along the channels and their pairs. Returns
    (6,H,W): M00, M11, M22, M01, M02, M12. It makes the loop's projection a few multiply-adds
    per pixel; the saved file is still checked with the exact formula (`to_native`).
    """
    step = _METRIC_STEP
    squared = {}
    for i, j in _PAIRS:
        direction = torch.zeros(3, 1, 1, dtype=image.dtype, device=image.device)
        direction[i] += step
        if i != j:
            direction[j] += step
        # Step away from the nearer end of the range so the probe stays in gamut.
        sign = torch.where(image > 1 - 2 * step, -1.0, 1.0)
        squared[i, j] = delta_e_map(image, image + direction * sign) ** 2
    metric = torch.empty(6, *image.shape[-2:], dtype=torch.float32, device=image.device)
    for index, (i, j) in enumerate(_PAIRS):
        if i == j:
            metric[index] = squared[i, i] / step**2
        else:
            metric[index] = (squared[i, j] - squared[i, i] - squared[j, j]) / (2 * step**2)
    # Finite differences can leave a direction with no (or negative) cost where CIEDE2000 is
    # not smooth (hue is undefined at grey; a probe met the end of the range): no eigenvalue may
    # fall below _EIGEN_FLOOR of the largest, so no change is ever free.
    full = metric.new_empty(*metric.shape[1:], 3, 3)
    for index, (i, j) in enumerate(_PAIRS):
        full[..., i, j] = full[..., j, i] = metric[index]
    values, vectors = torch.linalg.eigh(full)
    values = torch.maximum(values, values[..., -1:].clamp_min(0) * _EIGEN_FLOOR)
    repaired = (vectors * values[..., None, :]) @ vectors.transpose(-1, -2)
    for index, (i, j) in enumerate(_PAIRS):
        metric[index] = repaired[..., i, j]
    return metric


def quadratic_delta_e(metric: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
    """sqrt(vᵀ M v) per pixel, (H,W), for a (3,H,W) change v and a local_metric M."""
    r, g, b = perturbation.unbind(0)
    squared = (metric[0] * r * r + metric[1] * g * g + metric[2] * b * b
               + 2 * (metric[3] * r * g + metric[4] * r * b + metric[5] * g * b))
    return squared.clamp_(min=0).sqrt_()


def allowance_map(
    image: torch.Tensor, max_delta_e: float = DEFAULT_MAX_DELTA_E, window: int = 5, sigma: float = 1.0
) -> torch.Tensor:
    """A(p), (H,W) in CIEDE2000 units, of a (3,H,W) image in [0,1]."""
    raw = colour_variance_map(image, window=window, sigma=sigma, normalise=False)[None, None]
    side = 2 * EROSION_RADIUS + 1  # a square minimum filter, as two 1-D passes
    eroded = -F.max_pool2d(-raw, (side, 1), stride=1, padding=(EROSION_RADIUS, 0))
    eroded = -F.max_pool2d(-eroded, (1, side), stride=1, padding=(0, EROSION_RADIUS))
    texture = (eroded / TEXTURE_REFERENCE).clamp_(max=1.0)
    texture = F.avg_pool2d(texture, 2 * SMOOTHING_RADIUS + 1, stride=1, padding=SMOOTHING_RADIUS,
                           count_include_pad=False)
    return (max_delta_e * (FLAT_SHARE + (1 - FLAT_SHARE) * texture))[0, 0]


def shrink_allowance(allowance: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The allowance on a coarser grid: each cell takes the smallest allowance it covers."""
    if tuple(allowance.shape) == size:
        return allowance
    return -F.adaptive_max_pool2d(-allowance[None, None], size)[0, 0]


@torch.no_grad()
def delta_e_map(image: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Per-pixel CIEDE2000 (H,W) between two (3,H,W) images in [0,1], in bands of rows."""
    height, width = image.shape[-2:]
    result = torch.empty(height, width, dtype=torch.float32, device=image.device)
    rows = max(1, _BAND_PIXELS // width)
    for top in range(0, height, rows):
        band = slice(top, min(height, top + rows))
        result[band] = delta_e_2000(srgb_to_lab(image[:, band].float()), srgb_to_lab(other[:, band].float()))
    return result


@torch.no_grad()
def project_(image: torch.Tensor, perturbation: torch.Tensor, allowance: torch.Tensor, passes: int = 3) -> torch.Tensor:
    """Shrink `perturbation` (3,H,W) in place so image + perturbation stays in [0,1] and each
    pixel's CIEDE2000 change is at most `allowance` (within ~2% after three passes)."""
    perturbation.copy_(torch.maximum(torch.minimum(perturbation, 1 - image), -image))
    for _ in range(passes):
        difference = delta_e_map(image, image + perturbation)
        perturbation.mul_((allowance / difference.clamp_min(_EPSILON)).clamp_(max=1.0))
    return perturbation


@torch.no_grad()
def to_native(image: torch.Tensor, perturbation: torch.Tensor, allowance: torch.Tensor) -> torch.Tensor:
    """The protected photo on the 8-bit grid: `perturbation` (3,h,w), optimised on a coarser grid,
    upsampled smoothly (bilinear) to the photo's (3,H,W), kept to `allowance` (H,W), rounded,
    and checked exactly: a pixel still over its allowance after rounding is shrunk toward the
    original (to no change at worst), so the saved 8-bit file never exceeds the budget."""
    if perturbation.shape[-2:] != image.shape[-2:]:
        perturbation = F.interpolate(perturbation[None], size=image.shape[-2:], mode="bilinear",
                                     align_corners=False)[0]
    perturbation = project_(image, perturbation.clone(), allowance)
    levels = (perturbation * 255).round_()
    for shrink in (0.75, 0.5, 0.25, 0.0):
        over = delta_e_map(image, image + levels / 255) > allowance
        if not bool(over.any()):
            break
        levels[:, over] = (levels[:, over] * shrink).trunc_()
    return (image * 255).round_().add_(levels).clamp_(0, 255).div_(255)


class PerceptualBudget:
    """The loop's Budget (attacks.loop) for the perceptual allowance on the optimisation grid:
    starts at no change, keeps every step within `allowance` by the local quadratic metric
    (`to_native` makes it exact on the saved photo) and hands back the float result."""

    def __init__(self, image: torch.Tensor, allowance: torch.Tensor):
        self.allowance = allowance
        self.metric = local_metric(image)

    def start(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.zeros_like(image)

    def project_(self, image: torch.Tensor, perturbation: torch.Tensor) -> None:
        perturbation.copy_(torch.maximum(torch.minimum(perturbation, 1 - image), -image))
        difference = quadratic_delta_e(self.metric, perturbation)
        perturbation.mul_((self.allowance / difference.clamp_min(_EPSILON)).clamp_(max=1.0))

    def finish(self, adversarial: torch.Tensor) -> torch.Tensor:
        return adversarial.detach()
