"""Post-save re-checks: does the protection survive what an upload does to the file?

Platforms re-encode uploads as JPEG and shrink them; a protection verified only on the
lossless file may not survive either. These checks re-apply each to the saved pixels with the
real encoders (Pillow) and ask the plain model whether the condition still holds.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from pixelguard import imageio
from pixelguard.transfer import jpeg_round_trip

ROBUST_JPEG_QUALITY = 75
ROBUST_LONG_SIDE = 1080


def downscale_rgb(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """HxWx3 uint8 with the long side at most `long_side` (Pillow Lanczos, antialiased)."""
    height, width = rgb.shape[:2]
    if max(height, width) <= long_side:
        return rgb
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


UPLOAD_CHECKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    f"robust_jpeg{ROBUST_JPEG_QUALITY}": lambda rgb: jpeg_round_trip(rgb, ROBUST_JPEG_QUALITY),
    f"robust_{ROBUST_LONG_SIDE}": lambda rgb: downscale_rgb(rgb, ROBUST_LONG_SIDE),
}


@torch.no_grad()
def robustness_checks(
    model: torch.nn.Module,
    condition: Callable[[torch.Tensor], torch.Tensor],
    saved_rgb: np.ndarray,
    device: torch.device | str = "cpu",
) -> dict[str, bool]:
    """{'robust_jpeg75': bool, 'robust_1080': bool}: whether `condition` still holds on the saved
    pixels after a real JPEG q75 re-encode, and after a downscale to 1080 px on the long side
    (a photo already that small is checked as it is)."""
    results = {}
    for name, transform in UPLOAD_CHECKS.items():
        image = imageio.rgb_to_tensor(transform(saved_rgb)).to(device)
        logits = model(image.unsqueeze(0))
        results[name] = bool(condition(logits)[0])
    return results
