"""GUI tests run offscreen, with QSettings isolated in a temporary folder."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture
def settings_store(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings_store, tmp_path):
    from pixelguard.gui.window import MainWindow

    window = MainWindow(settings_store)
    window.settings_panel.output.setText(str(tmp_path / "protected"))
    window.settings_panel.iterations.setValue(40)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def small_photos(shared_dir, tmp_path):
    """Real photos downscaled to ~256 px so a protection takes about a second."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("grace_hopper.bmp", "owl.jpg", "hot_dog.jpg"):
        with Image.open(shared_dir / "photos" / name) as photo:
            photo.thumbnail((256, 256))
            photo.convert("RGB").save(folder / (name.rsplit(".", 1)[0] + ".png"))
    return folder
