"""Starting the Qt application: names, icon, and a last-resort error dialog."""

from __future__ import annotations

import sys
import traceback

from PySide6.QtWidgets import QApplication, QMessageBox

from pixelguard import __version__
from pixelguard.gui.icon import application_icon
from pixelguard.gui.window import MainWindow


def show_unexpected_error(kind, error, trace) -> None:
    """Report a bug in a dialog instead of losing the window (and the queue) to it."""
    details = "".join(traceback.format_exception(kind, error, trace))
    print(details, file=sys.stderr)
    box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected Error",
                      f"Something went wrong: {error}\n\nFinished photos are saved. "
                      "Please report this with the details below.")
    box.setDetailedText(details)
    box.exec()


def run(paths: list[str], qt_arguments: list[str]) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_arguments])
    app.setOrganizationName("PixelGuard")
    app.setApplicationName("PixelGuard")
    app.setApplicationDisplayName("PixelGuard")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("pixelguard")
    app.setWindowIcon(application_icon())
    sys.excepthook = show_unexpected_error
    window = MainWindow()
    window.show()
    if paths:
        window.add_paths(paths)
    return app.exec()
