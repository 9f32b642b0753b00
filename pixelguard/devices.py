"""Choosing the torch device: "auto" prefers CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from pixelguard.errors import PixelGuardError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch.device for "auto", "cpu", "cuda", "cuda:N" or "mps"; a clear error if unavailable."""
    if isinstance(name, torch.device):
        name = str(name)
    wanted = name.strip().lower()
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if wanted == "cpu":
        return torch.device("cpu")
    if wanted == "mps":
        if not _mps_available():
            raise PixelGuardError(
                "device 'mps' was asked for but Apple MPS is not available here; use --device auto or cpu"
            )
        return torch.device("mps")
    kind, _, index = wanted.partition(":")
    if kind == "cuda" and (not index or index.isdigit()):
        if not torch.cuda.is_available():
            raise PixelGuardError(
                f"device '{name}' was asked for but CUDA is not available here "
                "(no NVIDIA GPU, or PyTorch was built without CUDA); use --device auto or cpu"
            )
        if index and int(index) >= torch.cuda.device_count():
            raise PixelGuardError(
                f"device '{name}' does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return torch.device(wanted)
    raise PixelGuardError(f"unknown device '{name}'; choose one of: {', '.join(DEVICE_CHOICES)} (or cuda:N)")
