"""Screenshots of each view of the PixelGuard window, at 1280x720 and 1920x1080, for docs/gui.md.

Run under a virtual X display so Qt draws a real (xcb) window:

    xvfb-run -a -s "-screen 0 1920x1080x24" python packaging/screenshots.py

Without a display it falls back to Qt's offscreen platform. It protects real photos from
../shared/photos with the default model (settings and outputs go to a temporary folder, never
the user's own) and writes docs/screenshots/<view>-<width>x<height>.png.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos"
OUT = ROOT / "docs" / "screenshots"
SIZES = ((1280, 720), (1920, 1080))
# The first is protected for the views of a protected photo: Balanced protects the kite (README "JPEG output").
QUEUE = ("kite_and_cold.jpg", "cat_720p.jpg", "parrot.jpg", "owl.jpg", "grace_hopper.bmp", "hot_dog.jpg")


def main() -> int:
    if not PHOTOS.is_dir():
        print(f"no photos at {PHOTOS}", file=sys.stderr)
        return 1
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from pixelguard.gui.icon import application_icon
    from pixelguard.gui.window import MainWindow

    app = QApplication(sys.argv[:1])
    app.setApplicationName("PixelGuard")
    app.setWindowIcon(application_icon())
    work = Path(tempfile.mkdtemp(prefix="pixelguard-screenshots-"))
    window = MainWindow(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    try:
        shoot_views(app, window, work)
    finally:
        window.close()
    return 0


def shoot_views(app, window, work: Path) -> None:
    window.settings_panel.output.setText(str(work / "protected"))
    window.show()
    window.add_paths([PHOTOS / name for name in QUEUE])

    def select(row: int) -> None:
        window.queue.setCurrentIndex(window.photos.index(row))
        settle(app)

    # One photo protected, to show the proof; later three more running, to show progress.
    select(0)
    window.protect([0])
    wait(app, lambda: not window.runs.protecting, 300)
    OUT.mkdir(parents=True, exist_ok=True)

    def shoot(name: str, size: tuple[int, int]) -> None:
        settle(app)
        path = OUT / f"{name}-{size[0]}x{size[1]}.png"
        window.grab().save(str(path))
        print(path)

    for size in SIZES:
        window.resize(*size)
        window.reset_layout()
        select(0)
        wait(app, lambda: window.viewer.change.first is not None, 120)
        viewer = window.viewer
        viewer.setCurrentIndex(viewer.COMPARE)
        viewer.compare.split_button.click()
        viewer.state.fit()
        shoot("compare-split", size)
        viewer.compare.side_by_side_button.click()
        shoot("compare-side-by-side", size)
        viewer.compare.split_button.click()
        viewer.actual_pixels()
        shoot("compare-100-percent", size)
        viewer.state.fit()
        viewer.setCurrentIndex(viewer.THRESHOLD_MAP)
        shoot("threshold-map", size)
        viewer.setCurrentIndex(viewer.PERTURBATION)
        shoot("perturbation", size)
        viewer.setCurrentIndex(viewer.COMPARE)
        select(2)
        wait(app, lambda: bool(window.predictions.before.labels()), 120)
        shoot("before-protecting", size)

        panel = window.settings_panel
        panel.method.setCurrentIndex(panel.method.findData("tkmia"))
        tags = panel.method_options["tkmia"]
        wait(app, lambda: len(tags.boxes) == tags.k.value(), 120)
        tags.boxes[0].setChecked(True)
        shoot("tag-hiding", size)
        panel.method.setCurrentIndex(panel.method.findData("cvpire"))

    window.protect([1, 2, 3])
    wait(app, lambda: window.runs.batch is not None and window.runs.batch.current > 0, 300)
    select(1)
    for size in SIZES:
        window.resize(*size)
        window.reset_layout()
        shoot("protecting", size)
    window.cancel()
    wait(app, lambda: not window.runs.protecting, 120)


# A local event loop, not app.processEvents() (PySide6 6.12.0's binding drops a reference to None
# on every call: a loop of them ends in "Fatal Python error: deallocating None") nor QTest.qWait
# (it holds the GIL while it waits, so the worker threads barely run).
def pump(milliseconds: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def settle(app, seconds: float = 0.4) -> None:
    pump(round(seconds * 1000))


def wait(app, done, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        pump(50)
    if not done():
        raise SystemExit(f"timed out after {seconds} s")


if __name__ == "__main__":
    raise SystemExit(main())
