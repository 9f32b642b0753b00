"""Image views: compare original and protected (split slider, flicker, zoom and pan)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget


def pixmap_from_rgb(rgb: np.ndarray) -> QPixmap:
    """HxWx3 uint8 -> QPixmap (the QImage copies the buffer, so the array may go away)."""
    rgb = np.ascontiguousarray(rgb)
    height, width, _ = rgb.shape
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class ImageView(QWidget):
    """Shows one or two same-size pictures: fit to window or 100 % with panning.

    With two pictures a vertical split line shows the first on the left and the second on the
    right; drag it to compare. Flicker alternates between the two instead.
    """

    zoom_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setMouseTracking(True)
        self.left: QPixmap | None = None
        self.right: QPixmap | None = None
        self.placeholder = "Open photos to begin"
        self.split = 0.5
        self.actual_size = False
        self.offset = QPointF(0, 0)  # pan offset at 100 %, in image pixels
        self._drag: str | None = None
        self._drag_origin = QPointF()
        self._flicker_on_right = False
        self._flicker = QTimer(self)
        self._flicker.setInterval(500)
        self._flicker.timeout.connect(self._toggle_flicker)

    # -- content -------------------------------------------------------------------------
    def set_pictures(self, left: QPixmap | None, right: QPixmap | None = None, placeholder: str = "") -> None:
        self.left, self.right = left, right
        if placeholder:
            self.placeholder = placeholder
        self.update()

    def set_flicker(self, on: bool) -> None:
        self._flicker_on_right = False
        self._flicker.start() if on else self._flicker.stop()
        self.update()

    @property
    def flickering(self) -> bool:
        return self._flicker.isActive()

    def set_actual_size(self, on: bool) -> None:
        self.actual_size = on
        self.offset = QPointF(0, 0)
        self.zoom_changed.emit("100 %" if on else "fit")
        self.update()

    def _toggle_flicker(self) -> None:
        self._flicker_on_right = not self._flicker_on_right
        self.update()

    # -- geometry ------------------------------------------------------------------------
    def image_rect(self) -> QRectF:
        """Where the picture is drawn, in widget coordinates."""
        if self.left is None:
            return QRectF()
        width, height = self.left.width(), self.left.height()
        if self.actual_size:
            scale = 1.0 / self.devicePixelRatioF()
        else:
            scale = min(self.width() / width, self.height() / height)
        shown_w, shown_h = width * scale, height * scale
        x = (self.width() - shown_w) / 2 - self.offset.x() * scale
        y = (self.height() - shown_h) / 2 - self.offset.y() * scale
        return QRectF(x, y, shown_w, shown_h)

    def _clamp_offset(self) -> None:
        if self.left is None:
            return
        limit_x = max(0.0, (self.left.width() - self.width()) / 2)
        limit_y = max(0.0, (self.left.height() - self.height()) / 2)
        self.offset = QPointF(max(-limit_x, min(limit_x, self.offset.x())),
                              max(-limit_y, min(limit_y, self.offset.y())))

    # -- painting ------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self.left is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not self.actual_size)
        target = self.image_rect()
        if self.right is None:
            painter.drawPixmap(target, self.left, QRectF(self.left.rect()))
            return
        if self.flickering:
            shown = self.right if self._flicker_on_right else self.left
            painter.drawPixmap(target, shown, QRectF(shown.rect()))
            self._label(painter, "protected" if self._flicker_on_right else "original", Qt.AlignmentFlag.AlignLeft)
            return
        split_x = target.left() + self.split * target.width()
        painter.save()
        painter.setClipRect(QRectF(target.left(), target.top(), split_x - target.left(), target.height()))
        painter.drawPixmap(target, self.left, QRectF(self.left.rect()))
        painter.setClipRect(QRectF(split_x, target.top(), target.right() - split_x, target.height()))
        painter.drawPixmap(target, self.right, QRectF(self.right.rect()))
        painter.restore()
        painter.setPen(QPen(QColor(255, 255, 255, 220), 2))
        painter.drawLine(QPointF(split_x, target.top()), QPointF(split_x, target.bottom()))
        self._label(painter, "original", Qt.AlignmentFlag.AlignLeft)
        self._label(painter, "protected", Qt.AlignmentFlag.AlignRight)

    def _label(self, painter: QPainter, text: str, side: Qt.AlignmentFlag) -> None:
        box = self.rect().adjusted(8, 8, -8, -8)
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 12
        x = box.left() if side == Qt.AlignmentFlag.AlignLeft else box.right() - width
        chip = QRectF(x, box.top(), width, metrics.height() + 6)
        painter.fillRect(chip, QColor(0, 0, 0, 150))
        painter.setPen(QColor("white"))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)

    # -- mouse: drag the split line, or pan at 100 % ------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        target = self.image_rect()
        if self.right is not None and not self.flickering and target.width() > 0:
            split_x = target.left() + self.split * target.width()
            if abs(event.position().x() - split_x) < 12 or not self.actual_size:
                self._drag = "split"
                self._move_split(event.position().x())
                return
        if self.actual_size:
            self._drag = "pan"
            self._drag_origin = event.position()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag == "split":
            self._move_split(event.position().x())
        elif self._drag == "pan":
            delta = event.position() - self._drag_origin
            self._drag_origin = event.position()
            scale = self.devicePixelRatioF()
            self.offset -= QPointF(delta.x() * scale, delta.y() * scale)
            self._clamp_offset()
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag = None

    def _move_split(self, x: float) -> None:
        target = self.image_rect()
        self.split = min(1.0, max(0.0, (x - target.left()) / target.width()))
        self.update()


class LegendBar(QWidget):
    """A horizontal colour bar with end labels, for the threshold heat map."""

    def __init__(self, stops: list[tuple[float, tuple[int, int, int]]], low: str, high: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.stops, self.low, self.high = stops, low, high
        self.setFixedHeight(40)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        bar = QRectF(10, 4, self.width() - 20, 14)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for value, (r, g, b) in self.stops:
            gradient.setColorAt(value, QColor(r, g, b))
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().text().color())
        text = QRectF(10, 20, self.width() - 20, 18)
        painter.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.low)
        painter.drawText(text, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.high)
