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


def _mutable(x: torch.Tensor) -> torch.Tensor:
    """x, to be overwritten in place; a copy where autograd may have kept x for the backward pass."""
    return x.clone() if x.requires_grad else x


def _polyval(coefficients: list[float], x: torch.Tensor) -> torch.Tensor:
    """Horner's rule; coefficients from the constant term up."""
    result = torch.mul(x, coefficients[-1]).add_(coefficients[-2])
    for coefficient in reversed(coefficients[:-2]):
        result.mul_(x).add_(coefficient)
    return result


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve, elementwise."""
    # The power branch sees only inputs above the threshold, so it never raises a negative base.
    curve = rgb.clamp(min=0.04045).add_(0.055).mul_(1.0 / 1.055).pow_(2.4)
    return torch.where(rgb > 0.04045, curve, rgb / 12.92)


def srgb_to_lab(rgb: torch.Tensor, channel_dim: int = -3) -> torch.Tensor:
    """sRGB in [0,1] -> CIELAB (D65, 2 degrees; L in [0,100]), same shape as the input."""
    _check_channels(rgb, channel_dim)
    red, green, blue = _srgb_to_linear(rgb).unbind(channel_dim)
    f_x, f_y, f_z = (
        _lab_f((red * row[0]).add_(green, alpha=row[1]).add_(blue, alpha=row[2])) for row in _NORMALISED_XYZ_FROM_RGB
    )
    lightness = torch.mul(f_y, 116.0).sub_(16.0)
    return torch.stack((lightness, (f_x - f_y).mul_(500.0), (f_y - f_z).mul_(200.0)), dim=channel_dim)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    # The cube-root branch sees only inputs above the threshold: its slope is infinite at 0.
    cube_root = t.clamp(min=_LAB_THRESHOLD).pow_(1.0 / 3.0)
    return torch.where(t > _LAB_THRESHOLD, cube_root, torch.mul(t, _LAB_SLOPE).add_(16.0 / 116.0))


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
    Intermediates are updated in place and dropped early (on CPUs most of the time goes to
    memory traffic); _mutable guards the ones autograd keeps.
    """
    one = first.a.new_ones(())  # lets 1 + x * y run as one fused operation
    c1, c2, difference_a, sum_a = _stretched_chroma(first, second)
    difference_b, sum_b = first.b - second.b, first.b + second.b

    # Chroma: S_C = 1 + 0.045 C-bar', with 2 C-bar' = c_sum (kept above 0 for the divisions below;
    # where it is 0, so are the terms it divides). delta-C' = (C2'^2 - C1'^2) / c_sum is formed
    # from sums and differences of the components, which stays exact when C1' and C2' are close.
    c_sum = (c1 + c2).clamp_(min=torch.finfo(c1.dtype).tiny)
    delta_c = (difference_a * sum_a).addcmul_(difference_b, sum_b).div_(c_sum).neg_()
    cos_mean, sin_mean = _mean_hue_direction(sum_a, sum_b, c_sum, delta_c, difference_a, difference_b, first, second)
    chroma_term = _mutable(delta_c).div_(torch.add(one, c_sum, alpha=0.0225))

    # Hue: delta-H' = 2 sqrt(C1' C2') sin(delta-h'/2), and (v1 - v2) x m = (C1' + C2') sin(delta-h'/2);
    # S_H = 1 + 0.015 C-bar' T.
    half_delta_h = _mutable(difference_a).mul_(sin_mean).sub_(_mutable(difference_b).mul_(cos_mean))
    half_delta_h.mul_(_sqrt_(c1.mul_(c2))).div_(c_sum)
    hue_weight = _polyval(_S_H_EVEN, cos_mean).addcmul_(sin_mean, _polyval(_S_H_ODD, cos_mean))
    half_hue_term = half_delta_h.div_(hue_weight.mul_(c_sum).add_(1.0))

    squared = _lightness_term(first, second, one).square_().addcmul_(chroma_term, chroma_term)
    squared.addcmul_(half_hue_term, half_hue_term, value=4.0)
    r_t = _rotation_term(cos_mean, sin_mean, c_sum)
    return squared.addcmul_(r_t.mul_(chroma_term), half_hue_term, value=2.0)


def _stretched_chroma(first: LabComponents, second: LabComponents) -> tuple[torch.Tensor, ...]:
    """C1', C2', a1' - a2' and a1' + a2' after a* is stretched by 1 + G.

    G = 0.5 (1 - sqrt(C-bar^7 / (C-bar^7 + 25^7))) from the mean chroma of the pair; the sum is
    scaled from a1 + a2, exact where the two a* nearly cancel.
    """
    a_scale = _sqrt_(_seventh_power_share(first.chroma + second.chroma)).mul_(-0.5).add_(1.5)
    a1, a2 = first.a * a_scale, second.a * a_scale
    c1 = _sqrt_(a1.square().add_(first.b_squared))
    c2 = _sqrt_(a2.square().add_(second.b_squared))
    return c1, c2, _mutable(a1).sub_(a2), (first.a + second.a).mul_(a_scale)


def _lightness_term(first: LabComponents, second: LabComponents, one: torch.Tensor) -> torch.Tensor:
    """delta-L' / S_L, S_L = 1 + 0.015 (Lbar - 50)^2 / sqrt(20 + (Lbar - 50)^2); 2 (Lbar - 50) = l_sum."""
    l_sum_squared = (first.lightness_from_50 + second.lightness_from_50).square_()
    s_l = torch.addcmul(one, l_sum_squared, (l_sum_squared + 80.0).rsqrt_(), value=0.0075)
    return (second.lightness_from_50 - first.lightness_from_50).div_(s_l)


def _mean_hue_direction(sum_a, sum_b, c_sum, delta_c, difference_a, difference_b, first, second):
    """(cos h-bar', sin h-bar'); the zero vector where a chroma is 0 (the mean hue is unused there).

    c2 v1 + c1 v2 (v = (a', b)) is |v1| |v2| (u1 + u2), along the bisector of the hue vectors;
    2 (c2 v1 + c1 v2) = c_sum (v1 + v2) + delta-C' (v1 - v2), which is exactly 0 for mirrored colours.
    """
    mean_x = _mutable(sum_a).mul_(c_sum).addcmul_(delta_c, difference_a)
    mean_y = _mutable(sum_b).mul_(c_sum).addcmul_(delta_c, difference_b)
    length_squared = (mean_x * mean_x).addcmul_(mean_y, mean_y)
    if bool(length_squared.amin() == 0):
        mean_x, mean_y, length_squared = _opposite_hue_bisector(mean_x, mean_y, difference_a, difference_b, first, second)
    inverse_length = length_squared.clamp_(min=torch.finfo(length_squared.dtype).tiny).rsqrt_()
    return _mutable(mean_x).mul_(inverse_length), _mutable(mean_y).mul_(inverse_length)


def _rotation_term(cos_mean: torch.Tensor, sin_mean: torch.Tensor, c_sum: torch.Tensor) -> torch.Tensor:
    """R_T = -sin(2 delta-theta) R_C, delta-theta = 30 deg exp(-((h-bar' - 275 deg) / 25 deg)^2).

    h-bar' lies in [0, 360): atan2 measures it from 180 deg, so h-bar' - 275 = angle - 95. exp(x)
    runs as exp2(x log2(e)), three times faster on CPUs; the exponent is capped (exp(-64) is far
    below float precision) so it never returns subnormal numbers, which CPUs handle very slowly.
    """
    rotation = torch.atan2(_mutable(sin_mean).neg_(), _mutable(cos_mean).neg_())
    rotation.mul_(180.0 / math.pi / 25.0).sub_(95.0 / 25.0).square_().clamp_(max=64.0).mul_(-1.0 / math.log(2.0))
    rotation = _mutable(rotation.exp2_()).mul_(math.pi / 3.0).sin_()
    return rotation.mul_(_sqrt_(_seventh_power_share(c_sum))).mul_(-2.0)


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
