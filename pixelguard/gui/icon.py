"""The application icon: one SVG, plus PNG renderings for the places that want bitmaps.

Regenerate the PNGs after editing the SVG: `python -m pixelguard.gui.icon`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def resources_dir() -> Path:
    return Path(str(importlib.resources.files("pixelguard").joinpath("resources")))


def svg_path() -> Path:
    return resources_dir() / "pixelguard.svg"


def png_path(size: int) -> Path:
    return resources_dir() / f"pixelguard-{size}.png"


def render_png(size: int) -> QImage:
    """The SVG drawn at size x size on a transparent background."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg_path())).render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def application_icon() -> QIcon:
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(png_path(size)), QSize(size, size))
    return icon


if __name__ == "__main__":
    for icon_size in ICON_SIZES:
        render_png(icon_size).save(str(png_path(icon_size)))
        print(png_path(icon_size))
