"""The transfer optimisers: momentum-iterative sign steps (MI) and translation-invariant
gradient smoothing (TI), as torch optimisers the attack loop can build.

MI-FGSM: Dong, Liao, Pang, Su, Zhu, Hu, Li, "Boosting Adversarial Attacks with Momentum",
CVPR 2018, arXiv:1710.06081. TI: Dong, Pang, Su, Zhu, "Evading Defenses to Transferable
Adversarial Examples by Translation-Invariant Attacks", CVPR 2019, arXiv:1904.02884.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Section 7's published settings (Linf eps 16/255 becomes the pT budget, see the docs).
TRANSFER_STEP = 2 / 255
TRANSFER_MOMENTUM = 1.0
# TI: the 5x5 Gaussian at points linspace(-3, 3, 5) is defined at the model's input
# resolution; at native resolution the kernel is stretched by photo side / this reference.
TI_POINTS = 5
TI_REFERENCE_SIDE = 224


def gaussian_kernel_1d(scale: float = 1.0, points: int = TI_POINTS) -> torch.Tensor:
    """TI's Gaussian at linspace(-3, 3, points), stretched to round(points * scale) taps (odd),
    normalised to sum 1. Separable: the 2-D kernel is its outer product."""
    taps = 2 * int(points * max(scale, 1.0) // 2) + 1
    x = torch.linspace(-3, 3, taps)
    kernel = torch.exp(-x**2 / 2)
    return kernel / kernel.sum()


def smooth_gradient(gradient: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise separable convolution of a (3,H,W) or (B,3,H,W) gradient, zero padding."""
    batched = gradient.dim() == 4
    grid = gradient if batched else gradient.unsqueeze(0)
    channels = grid.shape[1]
    kernel = kernel.to(grid)
    half = kernel.numel() // 2
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    grid = F.conv2d(grid, vertical, padding=(half, 0), groups=channels)
    grid = F.conv2d(grid, horizontal, padding=(0, half), groups=channels)
    return grid if batched else grid[0]


def ti_scale(shape: torch.Size, reference_side: int = TI_REFERENCE_SIDE) -> float:
    """How many native pixels one model-input pixel spans (>= 1): the photo's shorter side over
    the model's input side. TI acts at model resolution, so its kernel is stretched by this."""
    return max(1.0, min(shape[-2:]) / reference_side)


class MomentumIterative(torch.optim.Optimizer):
    """MI-FGSM (Dong et al.) as a minimiser: g <- mu g + grad / ||grad||_1; p <- p - lr sign(g).

    With `translation_invariant`, the gradient is first smoothed by TI's Gaussian (Dong et al.
    2019), stretched to act at the model's input resolution (ti_scale).
    """

    def __init__(self, params, lr: float = TRANSFER_STEP, momentum: float = TRANSFER_MOMENTUM,
                 translation_invariant: bool = False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "translation_invariant": translation_invariant})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                gradient = parameter.grad
                if group["translation_invariant"] and gradient.dim() >= 3:
                    gradient = smooth_gradient(gradient, gaussian_kernel_1d(ti_scale(gradient.shape)))
                gradient = gradient / gradient.abs().mean().clamp_min(1e-12)
                state = self.state[parameter]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(parameter)
                velocity = state["velocity"].mul_(group["momentum"]).add_(gradient)
                parameter.sub_(velocity.sign(), alpha=group["lr"])
        return loss
