"""Picture views: original and protected (side by side, split slider, flicker), the threshold
heat map with its legend, and the amplified change; zoom and pan are shared by all of them."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QLinearGradient, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QHBoxLayout, QLabel, QStackedWidget, QTabWidget, QToolButton, QVBoxLayout, QWidget,
)

from pixelguard.threshold import heat_map_legend

BACKGROUND = QColor(38, 40, 44)
ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
SPLIT_GRAB = 12  # pixels either side of the split line that grab it
FLICKER_MS = 500


def tool_button(text: str, tip: str, checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setAutoRaise(True)
    return button


class ViewState(QObject):
    """Zoom and pan shared by every picture view, so each tab shows the same spot.

    zoom: image pixels per screen pixel (1.0 = 100 %, actual pixels), or None to fit the
    window. centre: the image point at the middle of the view, as fractions of width/height.
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.zoom: float | None = None
        self.centre = QPointF(0.5, 0.5)

    def fit(self) -> None:
        self.zoom = None
        self.centre = QPointF(0.5, 0.5)
        self.changed.emit()

    def set_zoom(self, zoom: float, centre: QPointF | None = None) -> None:
        self.zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if centre is not None:
            self.centre = centre
        self.changed.emit()

    def set_centre(self, centre: QPointF) -> None:
        self.centre = centre
        self.changed.emit()


class Mode(Enum):
    SINGLE = "single"
    SPLIT = "split"
    FLICKER = "flicker"


COMPARE_HINTS = {
    None: "Wheel: zoom · drag: pan · double-click: 100%",
    Mode.SPLIT: "Drag the line to compare · wheel: zoom · double-click: 100%",
    Mode.FLICKER: "Watch for anything that jumps · wheel: zoom",
}


EMPTY_VIEWER = "Open photos (Ctrl+O), a folder (Ctrl+Shift+O), or drop them here."


class ImageCanvas(QWidget):
    """One picture, or two same-size pictures compared with a split line or by flickering.

    Mouse: wheel zooms around the pointer, drag pans, double-click toggles fit / 100 %; in
    split mode, drag the line (or anywhere, when the picture fits) to move it.
    """

    def __init__(self, state: ViewState, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.state.changed.connect(self.update)
        self.placeholder = placeholder
        self.first: QPixmap | None = None
        self.second: QPixmap | None = None
        self.labels = ("", "")
        self.mode = Mode.SINGLE
        self.split = 0.5
        self.showing_second = False  # flicker phase
        self._drag: str | None = None
        self._last = QPointF()
        self._flicker = QTimer(self)
        self._flicker.setInterval(FLICKER_MS)
        self._flicker.timeout.connect(self._flip)
        self.setMinimumSize(160, 120)
        self.setMouseTracking(True)

    # -- content ------------------------------------------------------------------------
    def set_pictures(self, first: QPixmap | None, second: QPixmap | None = None,
                     labels: tuple[str, str] = ("", "")) -> None:
        self.first, self.second, self.labels = first, second, labels
        self._sync_flicker()
        self.update()

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.showing_second = False
        self._sync_flicker()
        self.update()

    def _sync_flicker(self) -> None:
        if self.mode is Mode.FLICKER and self.second is not None:
            self._flicker.start()
        else:
            self._flicker.stop()

    @property
    def flickering(self) -> bool:
        return self._flicker.isActive()

    def _flip(self) -> None:
        self.showing_second = not self.showing_second
        self.update()

    # -- geometry -----------------------------------------------------------------------
    def fit_scale(self) -> float:
        """Screen (logical) pixels per image pixel when the picture fits the view."""
        if self.first is None:
            return 1.0
        return min(self.width() / self.first.width(), self.height() / self.first.height())

    def scale(self) -> float:
        if self.state.zoom is None:
            return self.fit_scale()
        return self.state.zoom / self.devicePixelRatioF()

    def zoom_level(self) -> float:
        """Image pixels per physical screen pixel now (1.0 = 100 %)."""
        return self.scale() * self.devicePixelRatioF()

    def image_rect(self) -> QRectF:
        """Where the picture is drawn, in widget coordinates (panning never shows past an edge)."""
        if self.first is None:
            return QRectF()
        scale = self.scale()
        width, height = self.first.width() * scale, self.first.height() * scale

        def place(view: float, shown: float, centre: float) -> float:
            if shown <= view:
                return (view - shown) / 2
            return min(0.0, max(view - shown, view / 2 - centre * shown))

        return QRectF(place(self.width(), width, self.state.centre.x()),
                      place(self.height(), height, self.state.centre.y()), width, height)

    def _pannable(self) -> bool:
        rect = self.image_rect()
        return rect.width() > self.width() + 0.5 or rect.height() > self.height() + 0.5

    def _visible_centre(self) -> QPointF:
        """The image point at the middle of the view, after edge clamping."""
        rect = self.image_rect()
        return QPointF((self.width() / 2 - rect.left()) / rect.width(), (self.height() / 2 - rect.top()) / rect.height())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under `anchor` (default: the view's middle) in place."""
        if self.first is None:
            return
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        rect = self.image_rect()
        if rect.isEmpty():  # not laid out yet
            return
        point = QPointF((anchor.x() - rect.left()) / rect.width(), (anchor.y() - rect.top()) / rect.height())
        zoom = self.zoom_level() * factor
        if zoom <= self.fit_scale() * self.devicePixelRatioF() and factor < 1:
            self.state.fit()
            return
        new_scale = min(MAX_ZOOM, max(MIN_ZOOM, zoom)) / self.devicePixelRatioF()
        width, height = self.first.width() * new_scale, self.first.height() * new_scale
        # Choose the centre so that `point` lands under `anchor` again.
        centre = QPointF(point.x() + (self.width() / 2 - anchor.x()) / width,
                         point.y() + (self.height() / 2 - anchor.y()) / height)
        self.state.set_zoom(zoom, centre)

    def actual_pixels(self, anchor: QPointF | None = None) -> None:
        self.zoom_by(1.0 / self.zoom_level(), anchor)

    # -- painting -----------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self.first is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect().adjusted(20, 20, -20, -20),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        # Past 100 % show the pixels as they are (blocks), below it smooth the reduction.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom_level() < 1.0)
        target = self.image_rect()
        if self.second is None or self.mode is Mode.SINGLE:
            self._draw(painter, self.first, target)
            if self.labels[0]:
                self._chip(painter, self.labels[0], left=True)
        elif self.mode is Mode.FLICKER:
            shown = self.second if self.showing_second else self.first
            self._draw(painter, shown, target)
            self._chip(painter, self.labels[1] if self.showing_second else self.labels[0], left=True)
        else:
            self._draw_split(painter, target)

    @staticmethod
    def _draw(painter: QPainter, picture: QPixmap, target: QRectF) -> None:
        painter.drawPixmap(target, picture, QRectF(picture.rect()))

    def split_x(self) -> float:
        rect = self.image_rect()
        visible_left, visible_right = max(rect.left(), 0.0), min(rect.right(), float(self.width()))
        return visible_left + self.split * (visible_right - visible_left)

    def _draw_split(self, painter: QPainter, target: QRectF) -> None:
        x = self.split_x()
        painter.save()
        painter.setClipRect(QRectF(0, 0, x, self.height()))
        self._draw(painter, self.first, target)
        painter.setClipRect(QRectF(x, 0, self.width() - x, self.height()))
        self._draw(painter, self.second, target)
        painter.restore()
        top, bottom = max(target.top(), 0.0), min(target.bottom(), float(self.height()))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 2))
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        knob = QPointF(x, (top + bottom) / 2)
        painter.setBrush(QColor(255, 255, 255, 235))
        painter.setPen(QPen(QColor(0, 0, 0, 90), 1))
        painter.drawEllipse(knob, 14, 14)
        arrows = QPainterPath()
        for direction in (-1, 1):
            tip = knob + QPointF(direction * 9, 0)
            arrows.moveTo(tip)
            arrows.lineTo(tip + QPointF(-direction * 5, -5))
            arrows.lineTo(tip + QPointF(-direction * 5, 5))
            arrows.closeSubpath()
        painter.fillPath(arrows, QColor(40, 40, 40))
        self._chip(painter, self.labels[0], left=True)
        self._chip(painter, self.labels[1], left=False)

    def _chip(self, painter: QPainter, text: str, left: bool) -> None:
        if not text:
            return
        metrics = QFontMetrics(self.font())
        width, height = metrics.horizontalAdvance(text) + 16, metrics.height() + 8
        x = 10 if left else self.width() - 10 - width
        chip = QRectF(x, 10, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(chip, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    # -- mouse --------------------------------------------------------------------------
    def _near_split(self, x: float) -> bool:
        return (self.mode is Mode.SPLIT and self.second is not None
                and (abs(x - self.split_x()) <= SPLIT_GRAB or not self._pannable()))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.first is None or event.button() != Qt.MouseButton.LeftButton:
            return
        position = event.position()
        if self._near_split(position.x()):
            self._drag = "split"
            self._move_split(position.x())
        elif self._pannable():
            self._drag = "pan"
            self._last = position
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        position = event.position()
        if self._drag == "split":
            self._move_split(position.x())
        elif self._drag == "pan":
            rect = self.image_rect()
            delta = position - self._last
            self._last = position
            centre = self._visible_centre()
            self.state.set_centre(QPointF(centre.x() - delta.x() / rect.width(), centre.y() - delta.y() / rect.height()))
        elif self.first is not None:
            if self._near_split(position.x()) and (self._pannable() or abs(position.x() - self.split_x()) <= SPLIT_GRAB):
                self.setCursor(Qt.CursorShape.SplitHCursor)
            elif self._pannable():
                self.setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.unsetCursor()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if self.state.zoom is None:
            self.actual_pixels(event.position())
        else:
            self.state.fit()

    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120
        if steps and self.first is not None:
            self.zoom_by(ZOOM_STEP ** steps, event.position())

    def _move_split(self, x: float) -> None:
        rect = self.image_rect()
        visible_left, visible_right = max(rect.left(), 0.0), min(rect.right(), float(self.width()))
        self.split = min(1.0, max(0.0, (x - visible_left) / max(visible_right - visible_left, 1.0)))
        self.update()


class CompareView(QWidget):
    """Original and protected: side by side, split slider, or flicker."""

    def __init__(self, state: ViewState, parent: QWidget | None = None):
        super().__init__(parent)
        self.single = ImageCanvas(state, EMPTY_VIEWER)
        self.left = ImageCanvas(state)
        self.right = ImageCanvas(state)
        pair = QWidget()
        pair_layout = QHBoxLayout(pair)
        pair_layout.setContentsMargins(0, 0, 0, 0)
        pair_layout.setSpacing(2)
        pair_layout.addWidget(self.left)
        pair_layout.addWidget(self.right)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.single)
        self.stack.addWidget(pair)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._mode_bar())
        layout.addWidget(self.stack, 1)
        self.mode: Mode | None = Mode.SPLIT
        self.original: QPixmap | None = None
        self.protected: QPixmap | None = None
        self.caption = "Protected"

    def _mode_bar(self) -> QWidget:
        bar = QWidget()
        layout = QHBoxLayout(bar)
        layout.setContentsMargins(6, 2, 8, 2)
        layout.setSpacing(2)
        self.mode_buttons = QButtonGroup(self)
        self.side_by_side_button = tool_button("Side by side", "Original on the left, protected on the right", True)
        self.split_button = tool_button("Split", "Drag the line across the photo to compare", True)
        self.flicker_button = tool_button("Flicker", "Alternate original and protected twice a second: "
                                                     "any visible change jumps out", True)
        for index, button in enumerate((self.side_by_side_button, self.split_button, self.flicker_button)):
            self.mode_buttons.addButton(button, index)
            layout.addWidget(button)
        self.split_button.setChecked(True)
        self.mode_buttons.idClicked.connect(lambda index: self.set_mode((None, Mode.SPLIT, Mode.FLICKER)[index]))
        self.hint = QLabel()
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addStretch(1)
        layout.addWidget(self.hint)
        return bar

    def set_pictures(self, original: QPixmap | None, protected: QPixmap | None,
                     caption: str = "Protected") -> None:
        """`caption` names the second picture: "Protected", or "NOT protected" for a copy kept
        although it failed, so it never looks protected."""
        self.original, self.protected, self.caption = original, protected, caption
        self._show()

    def set_mode(self, mode: Mode | None) -> None:
        """Mode.SPLIT, Mode.FLICKER, or None for side by side."""
        self.mode = mode
        self._show()

    def _show(self) -> None:
        for button in self.mode_buttons.buttons():
            button.setEnabled(self.protected is not None)
        self.hint.setText(COMPARE_HINTS[self.mode] if self.protected is not None else
                          "Protect this photo to compare it with the original.")
        side_by_side = self.mode is None and self.protected is not None
        self.stack.setCurrentIndex(1 if side_by_side else 0)
        if side_by_side:
            self.left.set_pictures(self.original, labels=("Original", ""))
            self.right.set_pictures(self.protected, labels=(self.caption, ""))
            self.single.set_mode(Mode.SINGLE)
        elif self.protected is None:
            self.single.set_mode(Mode.SINGLE)
            self.single.set_pictures(self.original, labels=("Original (not protected yet)", ""))
        else:
            self.single.set_mode(self.mode)
            self.single.set_pictures(self.original, self.protected, ("Original", self.caption))


class LegendBar(QWidget):
    """The heat map's colours from flat to busy, labelled with the change allowed in 8-bit levels."""

    TICKS = 5

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.stops = heat_map_legend(17)
        self.strength = 0.0
        self.setMinimumHeight(44)

    def set_strength(self, strength: float) -> None:
        self.strength = strength
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        metrics = QFontMetrics(self.font())
        caption_left = "Flat: little or no change allowed"
        caption_right = f"Busy: up to {self.strength:g} levels per channel"
        margin = 12
        bar = QRectF(margin, 4, self.width() - 2 * margin, 14)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for value, (r, g, b) in self.stops:
            gradient.setColorAt(value, QColor(r, g, b))
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().text().color())
        tick_top = bar.bottom() + 2
        for index in range(self.TICKS):
            fraction = index / (self.TICKS - 1)
            x = bar.left() + fraction * bar.width()
            painter.drawLine(QPointF(x, bar.bottom()), QPointF(x, tick_top + 2))
            text = f"{self.strength * fraction:.3g}"
            width = metrics.horizontalAdvance(text)
            left = min(max(x - width / 2, bar.left()), bar.right() - width)
            painter.drawText(QPointF(left, tick_top + 2 + metrics.ascent()), text)
        line = tick_top + 4 + metrics.height() + metrics.ascent()
        if self.height() >= line + metrics.descent():
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(QPointF(bar.left(), line), caption_left)
            painter.drawText(QPointF(bar.right() - metrics.horizontalAdvance(caption_right), line), caption_right)

    def sizeHint(self):  # noqa: N802
        size = super().sizeHint()
        metrics = QFontMetrics(self.font())
        size.setHeight(int(24 + 2 * metrics.height() + 6))
        return size


class ViewerTabs(QTabWidget):
    """Compare | Threshold map | Perturbation, with the zoom controls beside the tabs."""

    COMPARE, THRESHOLD_MAP, PERTURBATION = range(3)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = ViewState(self)
        self.compare = CompareView(self.state)
        self.heat_map = ImageCanvas(self.state, "The threshold map appears when a photo is selected.")
        self.legend = LegendBar()
        self.change = ImageCanvas(self.state, "Protect this photo to see the change it received.")
        self.change_caption = QLabel("")
        self.change_caption.setWordWrap(True)
        self.addTab(self.compare, "Compare")
        self.addTab(self._with_caption(self.heat_map, self.legend,
                                       "Where the photo may change: the perturbation is bounded pixel by pixel "
                                       "by this map times the strength."), "Threshold map")
        self.addTab(self._with_caption(self.change, self.change_caption, ""), "Perturbation")
        self.setTabToolTip(self.COMPARE, "The original and the protected photo")
        self.setTabToolTip(self.THRESHOLD_MAP, "How much each pixel may change, before protecting")
        self.setTabToolTip(self.PERTURBATION, "The change the protection made, amplified so it can be seen")
        self.setCornerWidget(self._controls(), Qt.Corner.TopRightCorner)
        self.currentChanged.connect(self._update_zoom_label)
        self.state.changed.connect(self._update_zoom_label)
        self._update_zoom_label()

    @staticmethod
    def _with_caption(canvas: QWidget, below: QWidget, text: str) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(4)
        layout.addWidget(canvas, 1)
        if text:
            note = QLabel(text)
            note.setWordWrap(True)
            note.setContentsMargins(12, 0, 12, 0)
            layout.addWidget(note)
        below.setContentsMargins(12, 0, 12, 0)
        layout.addWidget(below)
        return page

    def _controls(self) -> QWidget:
        controls = QWidget()
        layout = QHBoxLayout(controls)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(2)
        self.zoom_out_button = tool_button("−", "Zoom out (Ctrl+-)")
        self.zoom_label = QLabel("Fit")
        self.zoom_label.setMinimumWidth(64)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.zoom_in_button = tool_button("+", "Zoom in (Ctrl++)")
        self.fit_button = tool_button("Fit", "Fit the photo to the window (Ctrl+0)")
        self.actual_button = tool_button("100%", "Actual pixels (Ctrl+1): artefacts hide when the photo is "
                                                 "shrunk; drag to pan")
        self.zoom_out_button.clicked.connect(lambda: self.zoom_by(1 / ZOOM_STEP))
        self.zoom_in_button.clicked.connect(lambda: self.zoom_by(ZOOM_STEP))
        self.fit_button.clicked.connect(self.state.fit)
        self.actual_button.clicked.connect(self.actual_pixels)
        for widget in (self.zoom_out_button, self.zoom_label, self.zoom_in_button, self.fit_button, self.actual_button):
            layout.addWidget(widget)
        return controls

    def active_canvas(self) -> ImageCanvas:
        if self.currentIndex() == self.THRESHOLD_MAP:
            return self.heat_map
        if self.currentIndex() == self.PERTURBATION:
            return self.change
        compare = self.compare
        return compare.left if compare.stack.currentIndex() == 1 else compare.single

    def zoom_by(self, factor: float) -> None:
        self.active_canvas().zoom_by(factor)

    def actual_pixels(self) -> None:
        self.active_canvas().actual_pixels()

    def _update_zoom_label(self, *_) -> None:
        canvas = self.active_canvas()
        text = "Fit" if canvas.first is None else f"{canvas.zoom_level():.0%}"
        if self.state.zoom is None and canvas.first is not None:
            text = f"Fit {canvas.zoom_level():.0%}"
        self.zoom_label.setText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._update_zoom_label()

    def set_photo(self, original: QPixmap | None, message: str = "") -> None:
        """A newly selected photo: its original only, until the other pictures arrive; `message`
        stands in for a photo that cannot be shown (the empty-queue hint otherwise)."""
        self.compare.single.placeholder = message or EMPTY_VIEWER
        self.compare.set_pictures(original, None)
        self.heat_map.set_pictures(None)
        self.change.set_pictures(None)
        self.change_caption.setText("")
        self._update_zoom_label()

    def set_heat_map(self, heat_map: QPixmap | None, strength: float) -> None:
        self.heat_map.set_pictures(heat_map, labels=("Threshold map", ""))
        self.legend.set_strength(strength)

    def set_protected(self, protected: QPixmap | None, change: QPixmap | None, factor: int,
                      caption: str = "Protected") -> None:
        self.compare.set_pictures(self.compare.original, protected, caption)
        self.change.set_pictures(change, labels=(f"Change ×{factor}", "") if change is not None else ("", ""))
        self.change_caption.setText(
            f"The change, amplified ×{factor}: mid-grey is unchanged; brighter or darker means that colour "
            "channel went up or down." if change is not None else "")
        self._update_zoom_label()
