"""Predictions before and after with probability bars, the verdict, and the quality figures."""

from __future__ import annotations

import html

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from pixelguard.protect import Outcome, ProtectionRecord

REMOVED = QColor("#d97706")  # the label the protection removes
STILL_THERE = QColor("#b91c1c")  # ... when it is still in the top 5 after
BAR = QColor("#3b82f6")
ROWS = 5

VERDICT_STYLES = {
    "good": "background:#dcfce7; color:#14532d; border:1px solid #86efac;",
    "bad": "background:#fee2e2; color:#7f1d1d; border:1px solid #fca5a5;",
    # Protected by the chosen rule, yet the photo still reads as the same kind of thing.
    "warn": "background:#fef3c7; color:#78350f; border:1px solid #fcd34d;",
    "neutral": "background:palette(alternate-base); color:palette(text); border:1px solid palette(mid);",
}


class PredictionList(QWidget):
    """Up to five labels with probability bars; one label can be highlighted."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.predictions: list[list] = []
        self.highlight: str | None = None
        self.highlight_colour = REMOVED
        self.placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_predictions(self, predictions: list[list], highlight: str | None = None,
                        colour: QColor = REMOVED, placeholder: str = "") -> None:
        self.predictions, self.highlight, self.highlight_colour = predictions[:ROWS], highlight, colour
        self.placeholder = placeholder
        self.setToolTip("\n".join(f"{label}: {prob:.2%}" for label, prob in self.predictions))
        self.update()

    def labels(self) -> list[str]:
        return [label for label, _ in self.predictions]

    def _row_height(self) -> int:
        return QFontMetrics(self.font()).height() + 8

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(260, ROWS * self._row_height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(160, ROWS * self._row_height())

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = QFontMetrics(self.font())
        text_colour = self.palette().color(QPalette.ColorRole.Text)
        if not self.predictions:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)
            return
        height = self._row_height()
        name_width = int(self.width() * 0.46)
        percent_width = metrics.horizontalAdvance("100.0%") + 6
        bold = QFont(self.font())
        bold.setBold(True)
        for row, (label, prob) in enumerate(self.predictions):
            top = row * height
            marked = label == self.highlight
            if marked:
                tint = QColor(self.highlight_colour)
                tint.setAlpha(40)
                painter.fillRect(QRectF(0, top + 1, self.width(), height - 2), tint)
                painter.fillRect(QRectF(0, top + 1, 3, height - 2), self.highlight_colour)
            painter.setFont(bold if marked else self.font())
            painter.setPen(self.highlight_colour.darker(130) if marked else text_colour)
            name = QFontMetrics(painter.font()).elidedText(label, Qt.TextElideMode.ElideRight, name_width - 12)
            painter.drawText(QRectF(8, top, name_width - 8, height), Qt.AlignmentFlag.AlignVCenter, name)
            bar = QRectF(name_width, top + height / 2 - 5, self.width() - name_width - percent_width - 4, 10)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.palette().color(QPalette.ColorRole.Midlight))
            painter.drawRoundedRect(bar, 3, 3)
            painter.setBrush(self.highlight_colour if marked else BAR)
            painter.drawRoundedRect(QRectF(bar.left(), bar.top(), max(2.0, bar.width() * prob), bar.height()), 3, 3)
            painter.setFont(self.font())
            painter.setPen(text_colour)
            painter.drawText(QRectF(self.width() - percent_width, top, percent_width, height),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{prob:.1%}")


class Figure(QWidget):
    """One quality figure: the value large, its name small, an explanation as tooltip."""

    def __init__(self, name: str, tip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.value = QLabel("–")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        caption = QLabel(name)
        caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.value)
        layout.addWidget(caption)
        self.setToolTip(tip)

    def set(self, text: str) -> None:
        self.value.setText(text)


class PredictionsPanel(QWidget):
    """What the classifier sees before and after, whether the protection held, and at what cost."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.before = PredictionList()
        self.after = PredictionList()
        self.before_title = QLabel("<b>Before</b> — the original")
        self.after_title = QLabel("<b>After</b> — read back from the saved file")
        columns = QGridLayout()
        columns.setHorizontalSpacing(24)
        columns.setVerticalSpacing(2)
        columns.addWidget(self.before_title, 0, 0)
        columns.addWidget(self.after_title, 0, 1)
        columns.addWidget(self.before, 1, 0)
        columns.addWidget(self.after, 1, 1)
        self.figures = {
            "ssim": Figure("SSIM", "Structural similarity to the original: 1 means identical; "
                                   "above 0.98 the change is very hard to see."),
            "psnr": Figure("PSNR", "Peak signal-to-noise ratio: higher is closer to the original; "
                                   "above 40 dB differences are usually invisible."),
            "delta_e": Figure("mean ΔE00", "Average colour difference (CIEDE2000): about 1 is the smallest "
                                           "difference people notice side by side."),
            "linf": Figure("largest change", "The largest change of any colour channel, in 8-bit levels (0–255)."),
            "work": Figure("iterations · time", "Optimisation steps taken, and the time for this photo."),
        }
        figures = QHBoxLayout()
        figures.setSpacing(28)
        for figure in self.figures.values():
            figures.addWidget(figure)
        figures.addStretch(1)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        # The held-out checks, in full text beside the predictions: what "protected" was judged on.
        self.panel = QLabel()
        self.panel.setWordWrap(True)
        self.panel.setTextFormat(Qt.TextFormat.RichText)
        self.panel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.verdict)
        layout.addLayout(columns)
        layout.addWidget(self.panel)
        layout.addWidget(line)
        layout.addLayout(figures)
        layout.addWidget(self.notes)
        layout.addStretch(1)
        self.show_nothing()

    def _set_verdict(self, text: str, kind: str) -> None:
        self.verdict.setText(text)
        self.verdict.setProperty("kind", kind)
        self.verdict.setStyleSheet(f"QLabel {{ {VERDICT_STYLES[kind]} border-radius:4px; padding:6px 8px; "
                                   f"font-weight:{'bold' if kind != 'neutral' else 'normal'}; }}")

    def _clear_figures(self) -> None:
        for figure in self.figures.values():
            figure.set("–")
        self.notes.setText("")
        self.panel.setText("")

    def show_nothing(self) -> None:
        self._set_verdict("Select a photo to see what the classifier reads in it.", "neutral")
        self.before.set_predictions([], placeholder="")
        self.after.set_predictions([], placeholder="")
        self._clear_figures()

    def show_preview(self, before: list[list] | None, label: str | None, message: str = "",
                     state: str = "Not protected yet.") -> None:
        """A photo not protected (yet): its predictions, and the label a protection would remove."""
        if before:
            top, prob = before[0]
            text = (f"{state} The classifier reads <b>{label or top}</b> in this photo "
                    f"({dict(map(tuple, before)).get(label or top, prob):.0%}).")
        else:
            text = message or f"{state} Reading the photo…"
        self._set_verdict(text, "neutral")
        self.before.set_predictions(before or [], label or (before[0][0] if before else None),
                                    placeholder=message or "Computing…")
        self.after.set_predictions([], placeholder="Protect this photo to see what the classifier reads "
                                                   "from the saved file.")
        self._clear_figures()

    def show_unusable(self, reason: str) -> None:
        """A photo that cannot be protected at all (it does not decode, it is too small)."""
        self._set_verdict(reason, "bad")
        self.before.set_predictions([], placeholder="The classifier cannot read this file either.")
        self.after.set_predictions([], placeholder="Nothing is written for it.")
        self._clear_figures()

    def show_record(self, record: ProtectionRecord) -> None:
        if record.status == Outcome.ERROR:
            self._set_verdict(f"Could not protect this photo: {record.error}", "bad")
            self.after.set_predictions([], placeholder="No protected file was written.")
            self._clear_figures()
            return
        self._set_verdict(*verdict_of(record))
        self.before.set_predictions(record.before, record.label, REMOVED)
        self.after.set_predictions(record.after, record.label, STILL_THERE)
        self.figures["ssim"].set(f"{record.ssim:.4f}")
        self.figures["psnr"].set(f"{record.psnr:.1f} dB")
        self.figures["delta_e"].set(f"{record.delta_e_mean:.2f}")
        self.figures["linf"].set(f"{record.linf} levels")
        self.figures["work"].set(f"{record.iterations} · {record.seconds:.1f} s")
        self.notes.setText(describe_extras(record))
        self.panel.setText(describe_panel(record))

    def figure_text(self, name: str) -> str:
        return self.figures[name].value.text()


def verdict_of(record: ProtectionRecord) -> tuple[str, str]:
    """(text, kind) of the verdict box. A protection after which labels related to the removed one
    still lead (the label left the top 5, another cat breed took its place) is not shown as a
    plain success: the photo still tells the same story. The semantic condition never leaves any."""
    if not record.success:
        return record.verdict, "bad"
    left = [name for name in record.extra.get("related_left") or [] if name != record.label]
    if left:
        shown = ", ".join(f"'{name}'" for name in left[:3])
        return (f"{record.verdict}. But the photo still reads as the same kind of thing: {shown} "
                f"{'is' if len(left) == 1 else 'are'} related to '{record.label}' and still in the top "
                f"{record.extra.get('k', 5)}. Choose \"Protected when: Nothing related in the top 5\" to hide "
                "those too.", "warn")
    return record.verdict, "good"


def describe_panel(record: ProtectionRecord) -> str:
    """The held-out checks of a record as rich text: one line each, held or not, and what the
    model read there."""
    checks = record.extra.get("panel") or []
    if not checks:
        return ""
    lines = ["<b>Checked on the saved file with independent code:</b>"]
    for check in checks:
        mark = "✔ held" if check["held"] else "✘ <b>not held</b>"
        lines.append(f"{mark} · {html.escape(check['view'])} · {html.escape(check['model'])} reads "
                     f"'{html.escape(check['top1'])}'")
    return "<br>".join(lines)


def describe_extras(record: ProtectionRecord) -> str:
    """Method and robustness details of a record, and its notes, in one short paragraph."""
    extra = record.extra
    parts = [f"Saved as {record.output}" if record.output else
             "Not written: an unprotected copy is never saved under the photo's name"]
    if extra.get("target"):
        parts.append(f"target label: {extra['target']}")
    if extra.get("related_in_topk") is not None:
        parts.append(f"related labels left in the top {extra.get('k', 5)}: {extra['related_in_topk']}")
    if extra.get("hidden"):
        parts.append(f"hidden tags: {', '.join(extra['hidden'])}")
    if extra.get("jpeg_encoding"):
        parts.append(f"written as JPEG with {extra['jpeg_encoding']}: the encoder changes pixels too, so the "
                     f"largest change ({record.linf} levels) is the protection's and the compression's together")
    parts.extend(record.notes)
    return " · ".join(parts)
