"""Naming several models as one (`--model a,b,c` or a preset name); pixelguard.transfer loads them."""

from __future__ import annotations

from pixelguard.errors import PixelGuardError

ENSEMBLE_PRESETS: dict[str, tuple[str, ...]] = {
    "imagenet-ensemble": ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"),
}


def ensemble_member_names(spec: str) -> list[str]:
    """'a,b,c' or a preset name -> the model names (one name -> a list of one)."""
    if spec in ENSEMBLE_PRESETS:
        return list(ENSEMBLE_PRESETS[spec])
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise PixelGuardError("--model needs at least one model name")
    if len(set(names)) != len(names):
        raise PixelGuardError(f"--model lists a model twice: {spec}")
    return names


def is_ensemble_spec(spec: str) -> bool:
    return len(ensemble_member_names(spec)) > 1
