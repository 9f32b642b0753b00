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


def allowance_map(
    image: torch.Tensor, max_delta_e: float = DEFAULT_MAX_DELTA_E, window: int = 5, sigma: float = 1.0
) -> torch.Tensor:
    """A(p), (H,W) in CIEDE2000 units, of a (3,H,W) image in [0,1]."""
    raw = colour_variance_map(image, window=window, sigma=sigma, normalise=False)[None, None]
    eroded = -F.max_pool2d(-raw, 2 * EROSION_RADIUS + 1, stride=1, padding=EROSION_RADIUS)
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
    starts at no change, keeps every step within `allowance` (one pass per step; `to_native`
    makes it exact on the saved photo) and hands back the float result."""

    def __init__(self, allowance: torch.Tensor):
        self.allowance = allowance

    def start(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.zeros_like(image)

    def project_(self, image: torch.Tensor, perturbation: torch.Tensor) -> None:
        project_(image, perturbation, self.allowance, passes=1)

    def finish(self, adversarial: torch.Tensor) -> torch.Tensor:
        return adversarial.detach()
