"""The PixelGuard desktop app (PySide6), a thin face over the same engine as the CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Open the window, with any photos or folders named on the command line in the queue."""
    from PySide6.QtWidgets import QApplication

    from pixelguard import __version__
    from pixelguard.gui.window import MainWindow

    argv = sys.argv[1:] if argv is None else argv
    app = QApplication.instance() or QApplication([sys.argv[0], *[a for a in argv if a.startswith("-")]])
    app.setOrganizationName("PixelGuard")
    app.setApplicationName("PixelGuard")
    app.setApplicationVersion(__version__)
    window = MainWindow()
    window.show()
    paths = [a for a in argv if not a.startswith("-")]
    if paths:
        window.add_paths(paths)
    return app.exec()
