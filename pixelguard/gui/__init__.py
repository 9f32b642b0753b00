"""The PixelGuard desktop app (PySide6): a face over the same engine the command line uses.

Qt is imported only when the app starts, so the command line works where Qt cannot load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixelguard.errors import InputError, PixelGuardError
from pixelguard.threads import prepare_environment


def launch(paths: list[str], qt_arguments: list[str] | None = None) -> int:
    """Open the window with `paths` (photos or folders) queued; returns the exit status."""
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such file or folder")
    from pixelguard.gui.platform_check import platform_problem

    problem = platform_problem()
    if problem:
        raise PixelGuardError(problem)
    prepare_environment(always_passive=True)  # hours beside other programs; before PyTorch loads
    try:
        from pixelguard.gui.application import run
    except ImportError as error:
        raise PixelGuardError(
            f"the desktop app cannot start because Qt failed to load ({error}); on Linux install the system "
            "libraries Qt needs (e.g. libegl1 libxkbcommon0 libfontconfig1)"
        ) from None
    return run(paths, qt_arguments or [])


def main(argv: list[str] | None = None) -> int:
    """The `pixelguard-gui` entry point: `pixelguard-gui [FILES...]`."""
    parser = argparse.ArgumentParser(prog="pixelguard-gui", description="Open the PixelGuard window.")
    parser.add_argument("paths", nargs="*", metavar="FILE", help="photos or folders to open")
    args, qt_arguments = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        return launch(args.paths, qt_arguments)
    except PixelGuardError as error:
        print(f"pixelguard-gui: error: {error}", file=sys.stderr)
        return 1 if isinstance(error, InputError) else 2
