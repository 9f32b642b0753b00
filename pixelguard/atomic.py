"""Atomic file writes: a hidden temporary file beside the target, then one rename.

A crash, a full disk or Ctrl-C never leaves a half-written output (or a damaged earlier one)
under the final name.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

# `.photo.jpg.1a2b3c4d.pixelguard.tmp` now; earlier releases wrote `.photo.jpg.1a2b3c4d.tmp`.
_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}(?P<ours>\.pixelguard)?\.tmp$")
_LEGACY_TARGET_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".json", ".csv"}


def write_atomically(destination: str | Path, data: bytes) -> Path:
    """Write `data` to `destination` through a temp file in the same folder and a rename."""
    destination = Path(destination)
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.pixelguard.tmp")
    # os.open with 0o666 lets the umask set the permissions, as for any new file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable; folders cannot be opened on Windows
        folder = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return destination


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temp files that write_atomically left in `folder` and below when a run was
    killed (SIGKILL, power loss); call it only while no other run writes there."""
    removed = []
    for root, _, files in os.walk(folder):
        for name in files:
            match = _TEMPORARY_NAME.match(name)
            if match and (match["ours"] or Path(match["name"]).suffix.lower() in _LEGACY_TARGET_SUFFIXES):
                path = Path(root) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
