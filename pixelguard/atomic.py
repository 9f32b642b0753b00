"""Atomic file writes: a hidden temporary file beside the target, then one rename.

A crash, a full disk or Ctrl-C never leaves a half-written output (or a damaged earlier one)
under the final name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(destination: str | Path, data: bytes) -> Path:
    """Write `data` to `destination` through a temp file in the same folder and a rename."""
    destination = Path(destination)
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.tmp")
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
