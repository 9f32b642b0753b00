"""Colour science on torch tensors: sRGB -> CIELAB and the CIEDE2000 colour difference.

Everything is batched, keeps the input's dtype and device, and is differentiable with finite
gradients everywhere (greys, black and identical colours included).

Channel axis: `channel_dim` names the axis that holds the three colour components. The default,
-3, fits images shaped (..., 3, H, W); pass channel_dim=-1 for colour lists shaped (..., 3).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

# sRGB (D65) -> XYZ and the D65 2-degree white point, as skimage.color.rgb2lab uses them.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
# XYZ/white -> normalised XYZ in one step.
_NORMALISED_XYZ_FROM_RGB = (_XYZ_FROM_RGB / _D65_WHITE[:, None]).tolist()
# CIELAB's f(t): cube root above the threshold, a line below it (skimage's constants).
_LAB_THRESHOLD = 0.008856
_LAB_SLOPE = 7.787

# CIEDE2000's C-bar^7 / (C-bar^7 + 25^7), written for the chroma sum 2*C-bar: (2 C-bar)^7 = 128 C-bar^7.
_CHROMA_SUM_7TH_AT_25 = 128.0 * 25.0**7


def _hue_weight_polynomials() -> tuple[list[float], list[float]]:
    """T(h) = E(cos h) + sin h * O(cos h), from the four cosine terms of CIEDE2000's T.

    cos(k h + phase) = cos(phase) T_k(cos h) - sin(phase) sin(h) U_{k-1}(cos h), with the
    Chebyshev polynomials T_k and U_{k-1} = T_k' / k, so T needs no trigonometry per pixel.
    """
    even = np.polynomial.Polynomial([1.0])
    odd = np.polynomial.Polynomial([0.0])
    for weight, k, phase_degrees in ((-0.17, 1, -30.0), (0.24, 2, 0.0), (0.32, 3, 6.0), (-0.20, 4, -63.0)):
        chebyshev = np.polynomial.Chebyshev.basis(k).convert(kind=np.polynomial.Polynomial)
        phase = math.radians(phase_degrees)
        even = even + weight * math.cos(phase) * chebyshev
        odd = odd - weight * math.sin(phase) * chebyshev.deriv() / k
    return even.coef.tolist(), odd.coef.tolist()


# S_H = 1 + 0.015 C-bar' T = 1 + c_sum * 0.0075 T, with c_sum = 2 C-bar': the 0.0075 is folded in.
_S_H_EVEN, _S_H_ODD = ([0.0075 * c for c in coefficients] for coefficients in _hue_weight_polynomials())


def _check_channels(tensor: torch.Tensor, channel_dim: int) -> None:
    if not torch.is_floating_point(tensor):
        raise TypeError(f"expected a floating-point tensor, got {tensor.dtype}")
    if tensor.dim() == 0 or tensor.shape[channel_dim] != 3:
        raise ValueError(f"expected 3 colour components along dim {channel_dim}, got shape {tuple(tensor.shape)}")


def _sqrt_(x: torch.Tensor) -> torch.Tensor:
    """sqrt of x >= 0, in place when no gradient is needed.

    With a gradient, the slope at 0 is 0 instead of inf (which would turn into NaN upstream).
    """
    if not x.requires_grad:
        return x.sqrt_()
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, 1.0)), 0.0)


def _polyval(coefficients: list[float], x: torch.Tensor) -> torch.Tensor:
    """Horner's rule; coefficients from the constant term up."""
    result = torch.mul(x, coefficients[-1]).add_(coefficients[-2])
    for coefficient in reversed(coefficients[:-2]):
        result.mul_(x).add_(coefficient)
    return result


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve, elementwise."""
    # The power branch sees only inputs above the threshold, so it never raises a negative base.
    curve = ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(rgb > 0.04045, curve, rgb / 12.92)


def srgb_to_lab(rgb: torch.Tensor, channel_dim: int = -3) -> torch.Tensor:
    """sRGB in [0,1] -> CIELAB (D65, 2 degrees; L in [0,100]), same shape as the input."""
    _check_channels(rgb, channel_dim)
    red, green, blue = _srgb_to_linear(rgb).unbind(channel_dim)
    f_x, f_y, f_z = (
        _lab_f(row[0] * red + row[1] * green + row[2] * blue) for row in _NORMALISED_XYZ_FROM_RGB
    )
    return torch.stack((116.0 * f_y - 16.0, 500.0 * (f_x - f_y), 200.0 * (f_y - f_z)), dim=channel_dim)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    # The cube-root branch sees only inputs above the threshold: its slope is infinite at 0.
    cube_root = t.clamp(min=_LAB_THRESHOLD) ** (1.0 / 3.0)
    return torch.where(t > _LAB_THRESHOLD, cube_root, _LAB_SLOPE * t + 16.0 / 116.0)


class LabComponents(NamedTuple):
    """Per-colour terms of CIEDE2000, computed once per colour and shared by every pair it is in."""

    lightness_from_50: torch.Tensor  # L* - 50 (CIEDE2000 weighs lightness by its distance from 50)
    a: torch.Tensor
    b: torch.Tensor
    b_squared: torch.Tensor
    chroma: torch.Tensor  # C*ab = hypot(a*, b*)


def lab_components(lab: torch.Tensor, channel_dim: int = -3) -> LabComponents:
    """Split CIELAB colours into the per-colour terms that delta_e_2000_squared takes."""
    _check_channels(lab, channel_dim)
    lightness, a, b = lab.unbind(channel_dim)
    b_squared = b * b
    return LabComponents(lightness - 50.0, a, b, b_squared, _sqrt_(torch.addcmul(b_squared, a, a)))


def delta_e_2000_squared(first: LabComponents, second: LabComponents) -> torch.Tensor:
    """Squared CIEDE2000 (k_L = k_C = k_H = 1) of two broadcastable sets of colours.

    Sharma, Wu and Dalal (2005) without trigonometry on the hue angles: the mean hue h-bar' is
    the direction bisecting the two hue vectors (the shorter arc, which is what Sharma's case
    analysis of h-bar' computes), sin(delta-h'/2) is a cross product with that direction, and T
    is a polynomial in (cos h-bar', sin h-bar'). Only the hue-rotation term needs an angle.
    The in-place steps only ever overwrite intermediates that autograd has not saved.
    """
    one = first.a.new_ones(())  # lets 1 + x * y run as one fused operation
    # G: a* is stretched by 1 + G = 1.5 - 0.5 sqrt(C-bar^7 / (C-bar^7 + 25^7)).
    a_scale = torch.add(1.5 * one, _sqrt_(_seventh_power_share(first.chroma + second.chroma)), alpha=-0.5)
    a1 = first.a * a_scale
    a2 = second.a * a_scale
    c1 = _sqrt_((a1 * a1).add_(first.b_squared))
    c2 = _sqrt_((a2 * a2).add_(second.b_squared))

    # Lightness: S_L = 1 + 0.015 (Lbar - 50)^2 / sqrt(20 + (Lbar - 50)^2), with 2 (Lbar - 50) = l_sum.
    l_sum_squared = (first.lightness_from_50 + second.lightness_from_50).square_()
    s_l = torch.addcmul(one, l_sum_squared, torch.rsqrt(l_sum_squared + 80.0), value=0.0075)
    lightness_term = (second.lightness_from_50 - first.lightness_from_50).div_(s_l)

    # Chroma: S_C = 1 + 0.045 C-bar', with 2 C-bar' = c_sum (kept above 0 for the divisions below;
    # where it is 0, so are the terms it divides). delta-C' = (C2'^2 - C1'^2) / c_sum is formed
    # from sums and differences of the components, which stays exact when C1' and C2' are close.
    c_sum = (c1 + c2).clamp_(min=torch.finfo(c1.dtype).tiny)
    difference_a, difference_b = a1 - a2, first.b - second.b
    sum_a, sum_b = (first.a + second.a).mul_(a_scale), first.b + second.b
    delta_c = (difference_a * sum_a).addcmul_(difference_b, sum_b).div_(c_sum).neg_()
    chroma_term = delta_c.div(torch.add(one, c_sum, alpha=0.0225))

    # Mean hue direction: c2 v1 + c1 v2 (v = (a', b)) is |v1| |v2| (u1 + u2), along the bisector;
    # 2 (c2 v1 + c1 v2) = c_sum (v1 + v2) + delta-C' (v1 - v2), which is exactly 0 for mirrored colours.
    mean_x = (sum_a * c_sum).addcmul_(delta_c, difference_a)
    mean_y = (sum_b * c_sum).addcmul_(delta_c, difference_b)
    length_squared = (mean_x * mean_x).addcmul_(mean_y, mean_y)
    if bool(length_squared.amin() == 0):
        mean_x, mean_y, length_squared = _opposite_hue_bisector(mean_x, mean_y, difference_a, difference_b, first, second)
    inverse_length = length_squared.clamp_(min=torch.finfo(length_squared.dtype).tiny).rsqrt_()
    cos_mean, sin_mean = mean_x * inverse_length, mean_y * inverse_length

    # Hue: delta-H' = 2 sqrt(C1' C2') sin(delta-h'/2), and (v1 - v2) x m = (C1' + C2') sin(delta-h'/2);
    # S_H = 1 + 0.015 C-bar' T.
    half_delta_h = (difference_a * sin_mean).sub_(difference_b * cos_mean)
    half_delta_h.mul_(_sqrt_(c1 * c2)).div_(c_sum)
    hue_weight = _polyval(_S_H_EVEN, cos_mean).addcmul_(sin_mean, _polyval(_S_H_ODD, cos_mean))
    half_hue_term = half_delta_h.div_(torch.addcmul(one, c_sum, hue_weight))

    # Rotation: R_T = -sin(2 delta-theta) R_C, delta-theta = 30 deg exp(-((h-bar' - 275 deg) / 25 deg)^2)
    # with h-bar' in [0, 360): measured from 180 deg by atan2, h-bar' - 275 = angle - 95.
    # exp(x) is computed as exp2(x log2(e)), three times faster on CPUs; the exponent is capped
    # (exp(-64) is far below float precision) so it never returns slow subnormal numbers.
    from_275_in_widths = torch.atan2(sin_mean.neg(), cos_mean.neg()).mul_(180.0 / math.pi / 25.0).sub_(95.0 / 25.0)
    gaussian = torch.exp2(from_275_in_widths.square_().clamp_(max=64.0).mul_(-1.0 / math.log(2.0)))
    rotation_angle = gaussian.mul(math.pi / 3.0)
    r_t = rotation_angle.sin_().mul_(_sqrt_(_seventh_power_share(c_sum))).mul_(-2.0)

    squared = (lightness_term * lightness_term).addcmul_(chroma_term, chroma_term)
    squared.addcmul_(half_hue_term, half_hue_term, value=4.0)
    return squared.addcmul_(r_t.mul_(chroma_term), half_hue_term, value=2.0)


def _seventh_power_share(chroma_sum: torch.Tensor) -> torch.Tensor:
    """C-bar^7 / (C-bar^7 + 25^7) from the chroma sum 2 C-bar, as G and R_C use it."""
    squared = chroma_sum * chroma_sum
    power = (squared * squared).mul_(squared).mul_(chroma_sum)
    return power.div_(power + _CHROMA_SUM_7TH_AT_25)


def _opposite_hue_bisector(mean_x, mean_y, difference_a, difference_b, first, second):
    """The mean hue where the hue vectors cancel: Sharma's rule for hues exactly 180 deg apart.

    Their mean (h1' + h2') / 2 is the perpendicular to v1 - v2 lying in [90, 270) deg. Where a
    chroma is 0 the mean hue does not matter (delta-H' = 0) and is left as the zero vector.
    """
    opposite = (mean_x == 0) & (mean_y == 0) & (first.chroma > 0) & (second.chroma > 0)
    perpendicular_x, perpendicular_y = -difference_b, difference_a
    flip = (perpendicular_x > 0) | ((perpendicular_x == 0) & (perpendicular_y < 0))
    sign = 1.0 - 2.0 * flip.to(mean_x.dtype)
    mean_x = torch.where(opposite, sign * perpendicular_x, mean_x)
    mean_y = torch.where(opposite, sign * perpendicular_y, mean_y)
    return mean_x, mean_y, torch.addcmul(mean_x * mean_x, mean_y, mean_y)


def delta_e_2000(lab1: torch.Tensor, lab2: torch.Tensor, channel_dim: int = -3) -> torch.Tensor:
    """CIEDE2000 between two broadcastable CIELAB tensors; the channel axis is removed."""
    squared = delta_e_2000_squared(lab_components(lab1, channel_dim), lab_components(lab2, channel_dim))
    return _sqrt_(squared.clamp(min=0.0))
