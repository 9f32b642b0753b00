"""Finding a class by the name a person types."""

from __future__ import annotations

import difflib

from pixelguard.errors import PixelGuardError


def find_label(labels: list[str], name: str) -> int:
    """Index of `name` in `labels` (case-insensitive); a clear error with suggestions if absent."""
    wanted = name.strip().lower()
    lowered = [label.lower() for label in labels]
    if wanted in lowered:
        return lowered.index(wanted)
    suggestions = difflib.get_close_matches(wanted, lowered, n=3, cutoff=0.6)
    hint = ""
    if suggestions:
        hint = "; did you mean " + " or ".join(f"'{labels[lowered.index(s)]}'" for s in suggestions) + "?"
    raise PixelGuardError(f"unknown label '{name}' for this model{hint}")
