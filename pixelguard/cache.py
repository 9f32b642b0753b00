"""Where PixelGuard keeps downloaded models and data packs.

The folder is the platform's user cache dir for "pixelguard" unless the environment variable
PIXELGUARD_HOME names another one (tests and CI point it at a prepared folder). Nothing here
creates folders: the downloader makes them when it first writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_VARIABLE = "PIXELGUARD_HOME"


def cache_dir() -> Path:
    """The root cache folder (PIXELGUARD_HOME, else the user cache dir)."""
    override = os.environ.get(HOME_VARIABLE)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("pixelguard", appauthor=False))


def models_dir() -> Path:
    """Downloaded model weights."""
    return cache_dir() / "models"


def data_dir() -> Path:
    """Downloaded data packs (label files, hierarchies)."""
    return cache_dir() / "data"
