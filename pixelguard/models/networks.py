"""Building bare networks by architecture name, and reading weight files without running code."""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from pixelguard.errors import PixelGuardError
from pixelguard.models.efficientnet_lite import VARIANTS, EfficientNetLite

TORCHVISION_PREFIX = "torchvision:"


def architecture_names() -> list[str]:
    """Every architecture a state_dict can be loaded into: EfficientNet-Lite and torchvision classifiers."""
    import torchvision.models

    return list(VARIANTS) + sorted(torchvision.models.list_models(module=torchvision.models))


def build_network(architecture: str, num_classes: int) -> nn.Module:
    """An untrained network: 'efficientnet-lite0..2', or a torchvision classification model name."""
    if architecture in VARIANTS:
        return EfficientNetLite(architecture, num_classes=num_classes)
    import torchvision.models

    name = architecture.removeprefix(TORCHVISION_PREFIX)
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise PixelGuardError(
            f"unknown architecture '{architecture}'; use efficientnet-lite0/1/2 or a torchvision "
            f"classification model name such as resnet50"
        )
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def read_state_dict(
    path: Path,
    *,
    checkpoint_key: str | None = None,
    strip_prefix: str = "",
    error: type[PixelGuardError] = PixelGuardError,
) -> dict[str, torch.Tensor]:
    """Tensors of a weight file, loaded with weights_only=True: a file that tries to run code is refused.

    `checkpoint_key` picks the state_dict out of a training checkpoint dict; `strip_prefix`
    removes e.g. 'module.' left by nn.DataParallel. Failures raise `error` with a plain message.
    """
    try:
        with warnings.catch_warnings():
            # Old or foreign pickles make torch warn about their protocol; the outcome is reported below.
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise error(
            f"{path} was refused: {_unsafe_reason(exc)}; PixelGuard only loads plain weight files "
            "(save a state_dict with torch.save(model.state_dict(), ...), or a TorchScript file)"
        ) from None
    except Exception as exc:  # a foreign file can break the unpickler in many ways; report it in one line
        raise error(f"{path} is not a readable PyTorch weights file ({_first_line(exc)})") from None
    if checkpoint_key is not None:
        if not isinstance(loaded, dict) or checkpoint_key not in loaded:
            raise error(f"{path} has no '{checkpoint_key}' entry; it is not the expected checkpoint")
        loaded = loaded[checkpoint_key]
    elif isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise error(f"{path} does not hold a state_dict (a mapping of parameter names to tensors)")
    return {
        (key[len(strip_prefix):] if strip_prefix and key.startswith(strip_prefix) else key): value
        for key, value in loaded.items()
    }


def load_weights(network: nn.Module, state_dict: dict[str, torch.Tensor], what: str, error=PixelGuardError) -> None:
    """load_state_dict(strict=True), with a one-line error naming what does not fit."""
    try:
        network.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise error(f"the weights of {what} do not fit its architecture ({_summarise_mismatch(exc)})") from None


def _unsafe_reason(exc: Exception) -> str:
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    if found:
        return f"it asks to run code ({found.group(1)}) when opened"
    return "it is a pickle with more than plain tensors in it, which could run code when opened"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _summarise_mismatch(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0] if lines else "unknown mismatch"
    return detail if len(detail) < 300 else detail[:297] + "..."
