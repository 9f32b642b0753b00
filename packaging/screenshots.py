"""Screenshots of every view of the PixelGuard window, at 1280x800 and 1920x1080.

Run under a virtual display for a real window:  xvfb-run -a python packaging/screenshots.py
(without a display it falls back to Qt's offscreen platform). Uses the real photos in
../shared/photos and the default model; writes docs/screenshots/*.png.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos"
OUT = ROOT / "docs" / "screenshots"
SIZES = {"1280x800": (1280, 800), "1920x1080": (1920, 1080)}


def main() -> int:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from pixelguard.gui.window import MainWindow

    app = QApplication(sys.argv[:1])
    work = Path(tempfile.mkdtemp(prefix="pixelguard-screens-"))
    window = MainWindow(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.settings_panel.output.setText(str(work / "protected"))
    window.show()
    window.add_paths([PHOTOS / name for name in ("cat_720p.jpg", "grace_hopper.bmp", "parrot.jpg", "owl.jpg")])
    window.queue.setCurrentRow(0)
    window.queue.item(0).setSelected(True)
    window.protect_selected()
    wait(app, lambda: window.thread is None, 300)
    wait(app, lambda: window.compare.right is not None, 60)
    OUT.mkdir(parents=True, exist_ok=True)
    for size_name, (width, height) in SIZES.items():
        window.resize(width, height)
        for index, tab in enumerate(("compare", "threshold-map", "perturbation")):
            window.tabs.setCurrentIndex(index)
            settle(app)
            path = OUT / f"{tab}-{size_name}.png"
            window.grab().save(str(path))
            print(path)
    window.tabs.setCurrentIndex(0)
    window.zoom_button.setChecked(True)
    settle(app)
    window.grab().save(str(OUT / "compare-100-percent-1920x1080.png"))
    window.close()
    return 0


def settle(app, rounds: int = 20) -> None:
    import time

    for _ in range(rounds):
        app.processEvents()
        time.sleep(0.02)


def wait(app, done, seconds: float) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)


if __name__ == "__main__":
    raise SystemExit(main())
