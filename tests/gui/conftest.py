"""GUI tests: Qt offscreen, settings isolated in a temporary folder, small real photos."""

import os

# Before anything imports Qt: no display is needed, and none is touched.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path, qapp):
    """Any QSettings() the app makes lands in tmp_path, never in the user's real settings."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "user-settings"))
    qapp.setOrganizationName("PixelGuardTests")
    qapp.setApplicationName("PixelGuardTests")


@pytest.fixture
def settings_store(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings_store, tmp_path):
    """The real main window, writing protected copies to tmp_path/protected."""
    from pixelguard.gui.window import MainWindow

    window = MainWindow(settings_store)
    qtbot.addWidget(window)
    window.settings_panel.output.setText(str(tmp_path / "protected"))
    window.show()
    yield window
    window.close()


@pytest.fixture
def small_photos(shared_dir, tmp_path):
    """Real photos downscaled to about 256 px, so a protection takes a second or two."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("grace_hopper.bmp", "owl.jpg", "hot_dog.jpg"):
        with Image.open(shared_dir / "photos" / name) as photo:
            photo.thumbnail((256, 256))
            photo.convert("RGB").save(folder / (name.rsplit(".", 1)[0] + ".png"))
    return folder
