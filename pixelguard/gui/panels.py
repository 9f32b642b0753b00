"""The settings panel (with presets and per-method options) and the predictions panel."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QStackedWidget,
    QVBoxLayout, QWidget,
)

from pixelguard.attacks import METHODS
from pixelguard.attacks.conditions import CONDITION_NAMES
from pixelguard.imageio import METADATA_POLICIES, OUTPUT_FORMATS
from pixelguard.models import list_models, model_status
from pixelguard.protect import ProtectSettings

# name -> (strength, l1, iterations, condition): what each preset sets.
PRESETS = {
    "Light": (16, 1.0, 100, "top1"),
    "Balanced": (24, 1.0, 100, "top5"),
    "Strong": (40, 0.5, 200, "semantic"),
}
DEFAULT_PRESET = "Balanced"
CONDITION_HELP = {
    "top1": "Protected when the label is no longer the top prediction.",
    "top5": "Protected when the label has left the five most likely labels.",
    "top1-margin": "Protected when another label leads the original by 50 % of its probability.",
    "semantic": "Protected when none of the top labels is even related to the original (e.g. no other cat breed).",
}


class LabelFoolOptions(QWidget):
    """Target label (empty: chosen automatically) and the privacy variant."""

    def __init__(self) -> None:
        super().__init__()
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.target = QLineEdit(placeholderText="automatic (plausible label)")
        self.target.setToolTip("The label the classifier should see instead; leave empty to let LabelFool choose.")
        self.privacy = QCheckBox("Semantically far target")
        self.privacy.setToolTip("Only targets unrelated to the true label (not 'bedroom' -> 'hotel room').")
        layout.addRow("Target", self.target)
        layout.addRow("", self.privacy)

    def apply(self, settings: ProtectSettings) -> None:
        settings.target = self.target.text().strip() or None
        settings.privacy_target = self.privacy.isChecked()


class TagOptions(QWidget):
    """The selected photo's current tags as check boxes: tick the ones to hide."""

    def __init__(self) -> None:
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel("Select a photo to see its tags.")
        self.hint.setWordWrap(True)
        self.layout_.addWidget(self.hint)
        self.boxes: list[QCheckBox] = []

    def set_tags(self, tags: list[tuple[str, float]]) -> None:
        for box in self.boxes:
            box.deleteLater()
        self.boxes = []
        self.hint.setText("Tick the tags to hide:" if tags else "Select a photo to see its tags.")
        for label, score in tags:
            box = QCheckBox(f"{label}  ({score:.0%})")
            box.setProperty("tag", label)
            self.layout_.addWidget(box)
            self.boxes.append(box)

    def apply(self, settings: ProtectSettings) -> None:
        settings.hide = tuple(box.property("tag") for box in self.boxes if box.isChecked())


# --method -> options widget; adding a method's controls is one entry here.
METHOD_OPTIONS: dict[str, Callable[[], QWidget]] = {
    "labelfool": LabelFoolOptions,
    "tkmia": TagOptions,
    "tkml-ap": TagOptions,
}


class SettingsPanel(QWidget):
    """Every protection setting, presets that set several at once, persisted in QSettings."""

    method_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.preset = QComboBox()
        self.preset.addItems([*PRESETS, "Custom"])
        self.preset.setToolTip("Light: least change; Strong: most robust. Each sets strength, L1, iterations and condition.")
        self.model = QComboBox()
        for entry in list_models():
            self.model.addItem(f"{entry.name}  ({model_status(entry.name)})", entry.name)
        self.model.setToolTip("The classifier to protect against. Models marked not-downloaded are fetched when used.")
        self.method = QComboBox()
        for name, method in METHODS.items():
            self.method.addItem(name, name)
            self.method.setItemData(self.method.count() - 1, method.summary, Qt.ItemDataRole.ToolTipRole)
        self.condition = QComboBox()
        for name in CONDITION_NAMES:
            self.condition.addItem(name, name)
            self.condition.setItemData(self.condition.count() - 1, CONDITION_HELP.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.strength = QSpinBox(minimum=1, maximum=128, suffix=" levels")
        self.strength.setToolTip("Largest change in the busiest pixels (8-bit levels). Flat areas change far less.")
        self.l1 = QDoubleSpinBox(minimum=0.0, maximum=10.0, singleStep=0.5, decimals=2)
        self.l1.setToolTip("Penalty on how much of the budget is used: higher keeps the change smaller; 0 turns it off.")
        self.iterations = QSpinBox(minimum=1, maximum=2000)
        self.iterations.setToolTip("Most photos need fewer than 10; the attack stops as soon as the photo is protected.")
        self.output = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output)
        output_row.addWidget(browse)
        self.format = QComboBox()
        self.format.addItems(OUTPUT_FORMATS)
        self.jpeg_quality = QSpinBox(minimum=1, maximum=100)
        self.metadata = QComboBox()
        self.metadata.addItems(METADATA_POLICIES)
        self.metadata.setToolTip("strip: keep only the colour profile; keep-safe: also date and camera; keep: everything but the thumbnail.")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        for label, widget in (("Preset", self.preset), ("Model", self.model), ("Method", self.method),
                              ("Condition", self.condition), ("Strength", self.strength), ("L1 penalty", self.l1),
                              ("Iterations", self.iterations)):
            form.addRow(label, widget)
        form.addRow("Output folder", output_row)
        for label, widget in (("Format", self.format), ("JPEG quality", self.jpeg_quality),
                              ("Metadata", self.metadata), ("Device", self.device)):
            form.addRow(label, widget)
        layout.addLayout(form)
        self.options_box = QGroupBox("Method options")
        self.options_stack = QStackedWidget()
        QVBoxLayout(self.options_box).addWidget(self.options_stack)
        self.options_stack.addWidget(QLabel("No options for this method."))
        self.method_options: dict[str, QWidget] = {}
        for name in METHODS:
            if name in METHOD_OPTIONS:
                widget = METHOD_OPTIONS[name]()
                self.method_options[name] = widget
                self.options_stack.addWidget(widget)
        layout.addWidget(self.options_box)
        layout.addStretch(1)
        # Let long entries (model names with their status) shrink instead of widening the panel.
        for combo in self.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)

        self.preset.currentTextChanged.connect(self.apply_preset)
        for spin in (self.strength, self.iterations):
            spin.valueChanged.connect(self._mark_custom)
        self.l1.valueChanged.connect(self._mark_custom)
        self.condition.currentIndexChanged.connect(self._mark_custom)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.format.currentTextChanged.connect(lambda fmt: self.jpeg_quality.setEnabled(fmt in ("jpeg", "keep")))

    # -- presets -------------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        if name not in PRESETS:
            return
        strength, l1, iterations, condition = PRESETS[name]
        self._applying = True
        self.strength.setValue(strength)
        self.l1.setValue(l1)
        self.iterations.setValue(iterations)
        self.condition.setCurrentIndex(self.condition.findData(condition))
        self._applying = False

    def _mark_custom(self) -> None:
        if not getattr(self, "_applying", False) and self.preset.currentText() != "Custom":
            self.preset.blockSignals(True)
            self.preset.setCurrentText("Custom")
            self.preset.blockSignals(False)

    def _method_changed(self) -> None:
        name = self.method.currentData()
        widget = self.method_options.get(name)
        self.options_stack.setCurrentWidget(widget if widget is not None else self.options_stack.widget(0))
        self.condition.setEnabled(name in ("cvpire", "kaa"))
        self.method_changed.emit(name)

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text())
        if folder:
            self.output.setText(folder)

    # -- settings ------------------------------------------------------------------------
    def settings(self) -> ProtectSettings:
        settings = ProtectSettings(
            model=self.model.currentData(), method=self.method.currentData(),
            condition=self.condition.currentData(), strength=self.strength.value(), l1=self.l1.value(),
            max_iter=self.iterations.value(), format=self.format.currentText(),
            jpeg_quality=self.jpeg_quality.value(), metadata=self.metadata.currentText(),
            device=self.device.currentText(),
        )
        options = self.method_options.get(settings.method)
        if options is not None:
            options.apply(settings)
        return settings

    def load(self, store: QSettings, default_output: str) -> None:
        defaults = ProtectSettings()
        self.preset.setCurrentText(store.value("preset", DEFAULT_PRESET))
        self.apply_preset(self.preset.currentText())
        self._select(self.model, store.value("model", defaults.model))
        self._select(self.method, store.value("method", defaults.method))
        self._select(self.condition, store.value("condition", defaults.condition))
        self.strength.setValue(int(store.value("strength", defaults.strength)))
        self.l1.setValue(float(store.value("l1", defaults.l1)))
        self.iterations.setValue(int(store.value("max_iter", defaults.max_iter)))
        self.output.setText(store.value("output", default_output))
        self.format.setCurrentText(store.value("format", defaults.format))
        self.jpeg_quality.setValue(int(store.value("jpeg_quality", defaults.jpeg_quality)))
        self.metadata.setCurrentText(store.value("metadata", defaults.metadata))
        self.device.setCurrentText(store.value("device", defaults.device))
        self.preset.setCurrentText(store.value("preset", DEFAULT_PRESET))
        self._method_changed()

    def save(self, store: QSettings) -> None:
        settings = self.settings()
        store.setValue("preset", self.preset.currentText())
        for key in ("model", "method", "condition", "strength", "l1", "max_iter", "format",
                    "jpeg_quality", "metadata", "device"):
            store.setValue(key, getattr(settings, key))
        store.setValue("output", self.output.text())

    @staticmethod
    def _select(combo: QComboBox, data: str) -> None:
        index = combo.findData(data)
        if index >= 0:
            combo.setCurrentIndex(index)


class PredictionsPanel(QWidget):
    """Top-5 before and after with probability bars, the verdict, and the quality figures."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.verdict = QLabel("Not protected yet.")
        self.verdict.setWordWrap(True)
        self.verdict.setObjectName("verdict")
        layout.addWidget(self.verdict)
        columns = QHBoxLayout()
        self.before = self._column("Before")
        self.after = self._column("After (read back from the saved file)")
        columns.addWidget(self.before[0])
        columns.addWidget(self.after[0])
        layout.addLayout(columns)
        self.figures = QLabel("")
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.figures)

    @staticmethod
    def _column(title: str) -> tuple[QGroupBox, list[tuple[QLabel, QProgressBar]]]:
        box = QGroupBox(title)
        grid = QGridLayout(box)
        rows = []
        for row in range(5):
            label, bar = QLabel(""), QProgressBar(maximum=1000, textVisible=True)
            bar.setFixedHeight(14)
            grid.addWidget(label, row, 0)
            grid.addWidget(bar, row, 1)
            rows.append((label, bar))
        grid.setColumnStretch(1, 1)
        return box, rows

    def show_record(self, record: dict | None) -> None:
        if record is None:
            self.verdict.setText("Not protected yet.")
            self.verdict.setStyleSheet("")
            for rows in (self.before[1], self.after[1]):
                self._fill(rows, [], None)
            self.figures.setText("")
            return
        if record.get("status") == "error":
            self.verdict.setText(f"Could not protect this photo: {record.get('error')}")
            self.verdict.setStyleSheet("color: #b3261e; font-weight: bold;")
            return
        ok = bool(record.get("success"))
        self.verdict.setText(record.get("verdict", ""))
        self.verdict.setStyleSheet(f"color: {'#1b7f3b' if ok else '#b3261e'}; font-weight: bold;")
        removed = record.get("label")
        self._fill(self.before[1], record.get("before", []), removed)
        self._fill(self.after[1], record.get("after", []), removed)
        self.figures.setText(describe_figures(record))

    @staticmethod
    def _fill(rows, predictions, removed: str | None) -> None:
        for index, (label, bar) in enumerate(rows):
            if index < len(predictions):
                name, prob = predictions[index]
                label.setText(f"<b><u>{name}</u></b>" if name == removed else name)
                bar.setValue(round(prob * 1000))
                bar.setFormat(f"{prob:.1%}")
                bar.show()
            else:
                label.setText("")
                bar.hide()


def describe_figures(record: dict) -> str:
    """The quality and robustness figures of a record, in one short paragraph."""
    parts = [f"SSIM {record['ssim']:.4f}", f"PSNR {record['psnr']:.1f} dB",
             f"mean ΔE00 {record['delta_e_mean']:.2f}", f"largest change {record['linf']} levels",
             f"{record['iterations']} iterations, {record['seconds']:.1f} s"]
    if record.get("target"):
        parts.append(f"target: {record['target']}")
    for key, text in (("robust_jpeg75", "survives JPEG q75"), ("robust_1080", "survives 1080 px")):
        if key in record:
            parts.append(f"{text}: {'yes' if record[key] else 'no'}")
    if "related_in_topk" in record and record["related_in_topk"] is not None:
        parts.append(f"related labels left in the top {record.get('k', 5)}: {record['related_in_topk']}")
    if record.get("hidden"):
        parts.append(f"hidden: {', '.join(record['hidden'])}; left the top k: {record.get('hidden_removed')}")
    return " · ".join(parts)
