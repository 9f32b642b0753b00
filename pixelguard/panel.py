"""Held-out verification: does a protection hold where the photo actually goes?

Every protection is checked, on the file as written, along routes the optimisation never used:
the real libraries (Pillow, OpenCV, libjpeg), not the torch stand-ins of pixelguard.views'
RouteSampler, and a typical upload. Each check runs the model's network on an input made by
independent code, so a protection that only fooled PixelGuard's own preprocessing fails here.
"Protected" means the condition held on every member of the panel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from pixelguard.attacks.conditions import Condition
from pixelguard.imageio import rgb_to_tensor
from pixelguard.views import Jpeg, ModelInput, Resize, Route, classifiers_of, exact_chain, network_input_size

UPLOAD_LONG_SIDE = 1080
UPLOAD_JPEG_QUALITY = 75


def panel_routes(ratio: float) -> dict[str, Route]:
    """The held-out routes for a model that resizes its shorter side to `ratio` times its input."""
    pillow = ModelInput("bilinear", "pillow", ratio)
    return {
        "Pillow bilinear resize": Route((), pillow),
        "OpenCV area resize": Route((), ModelInput("area", "opencv", ratio)),
        "whole frame (Pillow bicubic squash)": Route((), ModelInput("bicubic", "pillow", None)),
        f"upload ({UPLOAD_LONG_SIDE} px, JPEG q{UPLOAD_JPEG_QUALITY})": Route(
            (Resize("long", UPLOAD_LONG_SIDE, "lanczos", "pillow"), Jpeg(UPLOAD_JPEG_QUALITY)), pillow),
    }


@dataclass
class PanelResult:
    model: str
    view: str
    held: bool
    top1: str

    def to_dict(self) -> dict:
        return asdict(self)


def _ratio(classifier: nn.Module) -> float:
    preprocessing = classifier.preprocessing
    return preprocessing.resize / preprocessing.crop if preprocessing.resize_mode != "square" else 256 / 224


def _panel_logits(classifier: nn.Module, saved_rgb: np.ndarray, device):
    """(check name, logits) for each held-out route. A model without a known input size (a
    user's model with --preprocess none) takes whole photos: only the upload applies to it."""
    routes = panel_routes(_ratio(classifier) if getattr(classifier, "preprocessing", None) else 256 / 224)
    if getattr(classifier, "preprocessing", None) is None:
        name, route = list(routes.items())[-1]
        yield name, classifier(rgb_to_tensor(exact_chain(route.upload, saved_rgb))[None].to(device))
        return
    crop = network_input_size(classifier)
    for name, route in routes.items():
        yield name, classifier.classify_input(rgb_to_tensor(route.exact(saved_rgb, crop))[None].to(device))


@torch.no_grad()
def verify_on_panel(
    models: Sequence[nn.Module], condition: Condition, saved_rgb: np.ndarray, device: torch.device | str = "cpu"
) -> list[PanelResult]:
    """One result per (classifier, held-out route); an ensemble counts as its members."""
    results = []
    for model in models:
        for classifier in classifiers_of(model):
            for name, logits in _panel_logits(classifier, saved_rgb, device):
                results.append(PanelResult(
                    getattr(classifier, "name", type(classifier).__name__), name,
                    bool(condition(logits)[0]), classifier.labels[int(logits[0].argmax())],
                ))
    return results
