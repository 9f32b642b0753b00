"""The window's small dialogs: replace or keep existing copies, stop a run on close, a path no
file manager could show, and download progress."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

PROGRESS_STEPS = 1000


def ask_about_existing(parent: QWidget, count: int, total: int, folder: Path) -> bool | None:
    """Replace (True), keep and skip (False) or cancel (None) when protected copies are already there."""
    box = QMessageBox(QMessageBox.Icon.Question, "Protected Copies Exist",
                      f"{count} of these {total} photo(s) already have a protected copy in {folder}.", parent=parent)
    box.setInformativeText("Replace them with copies made with the current settings, or keep them and "
                           "protect only the others? (Settings → Output → \"Replace existing protected "
                           "copies\" makes replacing the default.)")
    replace = box.addButton("Replace", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep Them", QMessageBox.ButtonRole.RejectRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    if box.clickedButton() is replace:
        return True
    return False if box.clickedButton() is keep else None


def confirm_stop(parent: QWidget) -> bool:
    """Whether to stop a running protection to close the window."""
    answer = QMessageBox.question(
        parent, "Stop Protecting?",
        "Photos are being protected. Stop and close? Photos already finished stay saved; the one in "
        "progress is not written.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def reveal(parent: QWidget, place: Path) -> None:
    """Open a folder or file with the desktop's handler; where there is none, say so and show the path."""
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(place))):
        box = QMessageBox(QMessageBox.Icon.Information, "Open",
                          f"No file manager could be started to show:\n\n{place}\n\nOpen it yourself; the path "
                          "can be selected and copied.", parent=parent)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.exec()


class DownloadDialog(QProgressDialog):
    """A model or data download's progress, cancellable, until finish()."""

    def __init__(self, parent: QWidget):
        super().__init__("Downloading…", "Cancel", 0, 0, parent)
        self.setWindowTitle("Downloading")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.show()

    def show_progress(self, done: float, total: float) -> None:
        megabytes = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
        self.setLabelText(f"Downloading: {megabytes}\nIt is stored on this computer and used offline from then on.")
        self.setMaximum(PROGRESS_STEPS if total else 0)
        self.setValue(round(done / total * PROGRESS_STEPS) if total else 0)

    def finish(self) -> None:
        self.close()
        self.deleteLater()
