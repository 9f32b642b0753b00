"""Classifier: a network plus its preprocessing, taking pixel-space photos of any size.

Resize, centre crop and normalisation are differentiable torch ops inside forward(), so an
attack can optimise the photo at its native resolution and the gradient flows back through
the resize.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelguard.errors import PixelGuardError
from pixelguard.models.registry import ModelEntry, Preprocessing, Task


def resized_size(height: int, width: int, preprocessing: Preprocessing) -> tuple[int, int]:
    """Output size of the resize step, computed as torchvision's Resize does."""
    size = preprocessing.resize
    if preprocessing.resize_mode == "square":
        return size, size
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def centre_crop(images: torch.Tensor, crop: int) -> torch.Tensor:
    """The central crop x crop window, placed as torchvision's center_crop places it."""
    height, width = images.shape[-2:]
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    return images[..., top : top + crop, left : left + crop]


def scores_from_logits(logits: torch.Tensor, task: str = "single-label") -> torch.Tensor:
    """Per-class scores: per-class sigmoid for a multi-label tagger, softmax otherwise."""
    return torch.sigmoid(logits.float()) if task == "multi-label" else logits.float().softmax(dim=-1)


class Classifier(nn.Module):
    """Pixel-space images (B,3,H,W) in [0,1], any H and W -> logits (B, C).

    A single (3,H,W) image is treated as a batch of one. `labels[i]` names output i.
    """

    def __init__(
        self,
        network: nn.Module,
        labels: list[str],
        preprocessing: Preprocessing | None,
        *,
        task: Task = "single-label",
        entry: ModelEntry | None = None,
        name: str | None = None,
    ):
        super().__init__()
        self.network = network
        self.labels = list(labels)
        self.preprocessing = preprocessing
        self.task = task
        self.entry = entry
        self.name = name or (entry.name if entry else type(network).__name__)
        mean, std = (preprocessing.mean, preprocessing.std) if preprocessing else ((0.0,) * 3, (1.0,) * 3)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised, resized and cropped tensor the network sees."""
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B,3,H,W), got {tuple(images.shape)}")
        settings = self.preprocessing
        if settings is None:
            return images
        size = resized_size(*images.shape[-2:], settings)
        if size != tuple(images.shape[-2:]):
            images = F.interpolate(images, size=size, mode=settings.interpolation, align_corners=False, antialias=True)
        images = centre_crop(images, settings.crop)
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(self.preprocess(images))

    def classify_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of pixel images already resized and cropped to the network's input (views.py
        makes them along other routes than `preprocess`); only normalisation is applied."""
        return self.network((pixels - self.mean) / self.std)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax for single-label models, per-class sigmoid for multi-label taggers."""
        return scores_from_logits(self(images), self.task)

    @torch.no_grad()
    def top_k(self, images: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each image, the k most likely (label, probability) pairs, best first."""
        probabilities = self.probabilities(images)
        values, indices = probabilities.topk(min(k, probabilities.shape[-1]), dim=-1)
        return [
            [(self.labels[i], float(p)) for p, i in zip(row_values.tolist(), row_indices.tolist())]
            for row_values, row_indices in zip(values, indices)
        ]

    @property
    def final_layer(self) -> nn.Linear:
        """The last nn.Linear of the network, the one that maps penultimate features to classes."""
        linear_layers = [module for module in self.network.modules() if isinstance(module, nn.Linear)]
        if not linear_layers or linear_layers[-1].out_features != len(self.labels):
            raise PixelGuardError(f"model {self.name} has no final linear layer over its {len(self.labels)} classes")
        return linear_layers[-1]

    @property
    def classifier_weight(self) -> torch.Tensor:
        """Class weight vectors (C, D) of the final linear layer."""
        return self.final_layer.weight

    @property
    def classifier_bias(self) -> torch.Tensor | None:
        return self.final_layer.bias

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features (B, D) -- the final layer's input -- and logits (B, C), in one pass."""
        captured: list[torch.Tensor] = []
        handle = self.final_layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
        try:
            logits = self(images)
        finally:
            handle.remove()
        return captured[-1].flatten(1), logits

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(images)[0]
