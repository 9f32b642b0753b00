"""Atomic file writes: a temporary file beside the target, then one rename.

A crash, a full disk or Ctrl-C never leaves a half-written output under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed onto `target`.

    With overwrite=False an existing target raises FileExistsError at the rename, so a file
    that appeared meanwhile is not clobbered either.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as stream:
            os.fsync(stream.fileno())
        if overwrite:
            os.replace(temp, target)
        else:
            _rename_without_overwrite(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _rename_without_overwrite(temp: Path, target: Path) -> None:
    try:
        os.link(temp, target)  # unlike rename, fails when the target exists
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(temp, target)
