"""Models PixelGuard attacks: a registry of named classifiers plus a user's own model files.

    model = load_model("efficientnet-lite0", device="cpu")
    logits = model(images)          # images: (B,3,H,W) in [0,1], any H and W
    model.top_k(images, k=5)        # [[(label, probability), ...], ...]
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from pixelguard.devices import resolve_device
from pixelguard.errors import ModelUnavailableError
from pixelguard.models import datapacks
from pixelguard.models.classifier import Classifier
from pixelguard.models.download import DownloadCancelled, ProgressCallback
from pixelguard.models.networks import build_network, load_weights, read_state_dict
from pixelguard.models.registry import (
    DEFAULT_MODEL,
    ModelEntry,
    Preprocessing,
    download_model,
    get_entry,
    list_models,
    model_status,
    weights_path,
)
from pixelguard.models.user import load_user_model, looks_like_model_file

__all__ = [
    "DEFAULT_MODEL",
    "Classifier",
    "DownloadCancelled",
    "ModelEntry",
    "Preprocessing",
    "download_model",
    "get_entry",
    "list_models",
    "load_model",
    "model_status",
]


def _labels_for(entry: ModelEntry, progress: ProgressCallback | None, cancel: threading.Event | None) -> list[str]:
    for pack in entry.data_packs:
        datapacks.ensure_datapack(pack, progress, cancel)
    if entry.labels == "places365":
        return datapacks.places365_categories()
    return datapacks.imagenet_categories()


def load_model(
    name: str = DEFAULT_MODEL,
    device: str | torch.device = "cpu",
    progress: ProgressCallback | None = None,
    *,
    cancel: threading.Event | None = None,
    architecture: str | None = None,
    labels: str | Path | None = None,
    preprocessing: str | None = None,
) -> Classifier:
    """A registry model by name (downloaded on first use), or a user's model file by path.

    The result is in eval mode with requires_grad off on every parameter. `architecture`,
    `labels` and `preprocessing` apply to model files only (see load_user_model).
    `progress(done_bytes, total_bytes)` reports downloads; returning False, or setting
    `cancel`, stops them (DownloadCancelled).
    """
    target = resolve_device(device)
    if not _is_registry_name(name) and looks_like_model_file(name):
        model = load_user_model(name, architecture=architecture, labels=labels, preprocessing=preprocessing)
    else:
        entry = get_entry(name)
        weights = weights_path(entry, progress, cancel)
        label_names = _labels_for(entry, progress, cancel)
        network = build_network(entry.architecture, entry.num_classes)
        state = read_state_dict(
            weights,
            checkpoint_key=entry.weights.checkpoint_key,
            strip_prefix=entry.weights.strip_prefix,
            error=ModelUnavailableError,
        )
        load_weights(network, state, f"model {entry.name}", error=ModelUnavailableError)
        model = Classifier(network, label_names, entry.preprocessing, task=entry.task, entry=entry)
    model.requires_grad_(False)
    return model.to(target).eval()


def _is_registry_name(name: str) -> bool:
    return name in {entry.name for entry in list_models()}
