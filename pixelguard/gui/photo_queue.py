"""The queue of photos: one row per photo with thumbnail, name, size and status."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import (
    QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, QRect, QRectF, QRunnable, QSize, Qt,
    QThreadPool, Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from pixelguard import imageio
from pixelguard.errors import PixelGuardError
from pixelguard.gui.workers import qimage_from_rgb
from pixelguard.protect import Outcome, ProtectionRecord

THUMBNAIL_SIZE = 56
ROW_HEIGHT = 68
ROW_MIN_WIDTH = 150


class Status(Enum):
    """A photo's state in the queue: its words and its colour."""

    WAITING = ("Waiting", "#6b7280")
    QUEUED = ("Queued", "#6b7280")
    RUNNING = ("Running", "#2563eb")
    PROTECTED = ("Protected", "#15803d")
    FAILED = ("Failed", "#b91c1c")  # cannot be protected: a file that does not decode, an error
    NOT_PROTECTED = ("Not protected", "#b91c1c")  # ran, but the condition did not hold on the saved file
    ALREADY_PROTECTED = ("Already protected", "#0f766e")

    @property
    def text(self) -> str:
        return self.value[0]

    @property
    def colour(self) -> QColor:
        return QColor(self.value[1])


@dataclass
class PhotoItem:
    path: Path
    base: Path | None  # the folder it was found in, so outputs keep sub-folders
    status: Status = Status.WAITING
    reason: str = ""  # why it failed, in plain words
    progress: float = 0.0  # of the running photo
    record: ProtectionRecord | None = None
    thumbnail: QPixmap | None = None
    pixels: tuple[int, int] | None = None  # upright width, height
    file_bytes: int = 0
    before: list | None = None  # predictions on the original, from the preview

    @property
    def status_text(self) -> str:
        if self.status in (Status.FAILED, Status.NOT_PROTECTED) and self.reason:
            return f"{self.status.text}: {self.reason}"
        if self.status is Status.RUNNING:
            return f"Running… {self.progress:.0%}"
        return self.status.text

    @property
    def size_text(self) -> str:
        parts = [f"{self.pixels[0]}×{self.pixels[1]}"] if self.pixels else []
        parts.append(human_bytes(self.file_bytes))
        return " · ".join(parts)


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


class _ThumbnailSignals(QObject):
    done = Signal(str, QImage, int, int)  # path, thumbnail, upright width, height
    failed = Signal(str, str)  # path, reason


class _ThumbnailJob(QRunnable):
    """Decode the photo as protecting will (the engine's loader and size checks), so a file that
    cannot be protected says why as soon as it is queued; then a small thumbnail of it."""

    def __init__(self, path: Path, side: int, signals: _ThumbnailSignals):
        super().__init__()
        self.path, self.side, self.signals = path, side, signals

    def run(self) -> None:
        try:
            source = imageio.load_image(self.path)
            imageio.check_processable(source)
        except PixelGuardError as error:
            self.signals.failed.emit(str(self.path), str(error))
            return
        picture = Image.fromarray(source.rgb)
        picture.thumbnail((self.side, self.side), Image.Resampling.LANCZOS)
        self.signals.done.emit(str(self.path), qimage_from_rgb(np.asarray(picture)), *source.size)


class PhotoQueueModel(QAbstractListModel):
    """The photos, their status and the last protection record of each."""

    unusable = Signal(int)  # row: the photo did not decode or cannot be protected, see its reason

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.items: list[PhotoItem] = []
        self._rows: dict[str, int] = {}
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _ThumbnailSignals(self)
        self._signals.done.connect(self._thumbnail_done)
        self._signals.failed.connect(self._thumbnail_failed)
        self.thumbnail_side = THUMBNAIL_SIZE * 2  # sharp on high-density screens

    # -- Qt model -----------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.items)

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.path.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.path}\n{item.size_text}\n{item.status_text}"
        return None

    # -- contents -----------------------------------------------------------------------
    def add(self, found: list[tuple[Path, Path | None]]) -> int:
        """Append photos not already queued; returns how many were new."""
        new = [(path, base) for path, base in found if str(path) not in self._rows]
        if not new:
            return 0
        first = len(self.items)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for path, base in new:
            item = PhotoItem(path, base)
            try:
                item.file_bytes = path.stat().st_size
            except OSError:
                pass
            self._rows[str(path)] = len(self.items)
            self.items.append(item)
        self.endInsertRows()
        for path, _ in new:
            self._pool.start(_ThumbnailJob(path, self.thumbnail_side, self._signals))
        return len(new)

    def remove_rows(self, rows: list[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()
        self._rows = {str(item.path): row for row, item in enumerate(self.items)}

    def item(self, row: int) -> PhotoItem:
        return self.items[row]

    def set_status(self, row: int, status: Status, reason: str = "") -> None:
        item = self.items[row]
        item.status, item.reason, item.progress = status, reason, 0.0
        self._changed(row)

    def set_progress(self, row: int, fraction: float) -> None:
        self.items[row].progress = fraction
        self._changed(row)

    def set_record(self, row: int, record: ProtectionRecord) -> None:
        item = self.items[row]
        item.record = record
        if record.resumed:
            self.set_status(row, Status.ALREADY_PROTECTED)
        elif record.status == Outcome.PROTECTED:
            self.set_status(row, Status.PROTECTED)
        elif record.status == Outcome.FAILED:
            self.set_status(row, Status.NOT_PROTECTED, record.reason)
        else:
            self.set_status(row, Status.FAILED, (record.error or "").removeprefix(f"{record.input}: "))
        if record.before:
            item.before = record.before

    def _changed(self, row: int) -> None:
        index = self.index(row)
        self.dataChanged.emit(index, index)

    def wait_for_thumbnails(self) -> None:
        self._pool.clear()
        self._pool.waitForDone()

    def _thumbnail_done(self, path: str, image: QImage, width: int, height: int) -> None:
        row = self._rows.get(path)
        if row is not None:
            self.items[row].thumbnail = QPixmap.fromImage(image)
            self.items[row].pixels = (width, height)
            self._changed(row)

    def _thumbnail_failed(self, path: str, reason: str) -> None:
        row = self._rows.get(path)
        if row is not None:
            self.set_status(row, Status.FAILED, reason.removeprefix(f"{path}: "))
            self.unusable.emit(row)


class PhotoDelegate(QStyledItemDelegate):
    """Thumbnail on the left; name, size and status (with a coloured dot) on three lines."""

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:  # noqa: N802
        # A small width: the list then gives each row its full width and the texts elide to it.
        return QSize(ROW_MIN_WIDTH, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        item: PhotoItem = index.model().item(index.row())
        style = option.widget.style() if option.widget else None
        painter.save()
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        rect = option.rect.adjusted(6, 6, -6, -6)

        frame = QRect(rect.left(), rect.top(), THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        painter.fillRect(frame, option.palette.color(QPalette.ColorRole.AlternateBase))
        if item.thumbnail is not None:
            shown = item.thumbnail.size().scaled(frame.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, shown.width(), shown.height())
            target.moveCenter(frame.center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, item.thumbnail)

        left = frame.right() + 10
        width = rect.right() - left
        line = QFontMetrics(option.font).height()
        name_font = QFont(option.font)
        name_font.setBold(True)
        painter.setFont(name_font)
        painter.setPen(option.palette.color(text_role))
        name = QFontMetrics(name_font).elidedText(item.path.name, Qt.TextElideMode.ElideMiddle, width)
        painter.drawText(QRect(left, rect.top(), width, line), Qt.AlignmentFlag.AlignVCenter, name)

        painter.setFont(option.font)
        metrics = QFontMetrics(option.font)
        secondary = option.palette.color(text_role)
        if not selected:
            secondary = option.palette.color(QPalette.ColorRole.PlaceholderText)
        painter.setPen(secondary)
        painter.drawText(QRect(left, rect.top() + line + 1, width, line), Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(item.size_text, Qt.TextElideMode.ElideRight, width))

        status_top = rect.top() + 2 * line + 3
        dot = QRectF(left, status_top + line / 2 - 4, 8, 8)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(item.status.colour)
        painter.drawEllipse(dot)
        painter.setPen(option.palette.color(text_role) if selected else item.status.colour)
        status_rect = QRect(left + 14, status_top, width - 14, line)
        if item.status is Status.RUNNING:
            bar = QRectF(status_rect.left() + metrics.horizontalAdvance("Running… 100%") + 8,
                         status_top + line / 2 - 3, 0, 6)
            bar.setRight(status_rect.right())
            if bar.width() > 20:
                painter.fillRect(bar, QColor(37, 99, 235, 50))
                painter.fillRect(QRectF(bar.left(), bar.top(), bar.width() * item.progress, bar.height()),
                                 item.status.colour)
        painter.drawText(status_rect, Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(item.status_text, Qt.TextElideMode.ElideRight, status_rect.width()))
        painter.restore()
