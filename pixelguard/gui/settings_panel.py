"""The settings panel: model, method (with its own options), protection, output, device; presets
that set several values at once; everything persisted with QSettings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from pixelguard.attacks import METHODS
from pixelguard.devices import DEVICE_CHOICES, resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.imageio import DEFAULT_JPEG_QUALITY, METADATA_POLICIES, OUTPUT_FORMATS
from pixelguard.models import DEFAULT_MODEL, ModelEntry, get_entry, model_status
from pixelguard.settings import CONDITION_NAMES, ProtectSettings, preset_settings
from pixelguard.settings import PRESETS as ENGINE_PRESETS

# The engine's presets, with the values the panel shows; Balanced is the engine's defaults.
PRESET_KEYS = ("condition", "budget", "max_delta_e", "views", "strength", "l1", "max_iter")
PRESETS: dict[str, dict] = {
    name.capitalize(): {key: getattr(preset_settings(name), key) for key in PRESET_KEYS + ("model",)}
    | {"condition": preset_settings(name).build().condition}  # the default method's, where a preset names none
    for name in ENGINE_PRESETS
}
# Measured by benchmarks/wild.py on the 11 shared photos, PNG output (README "Presets").
PRESET_HELP = {
    "Fast": "The published attack, checked only on the model's own pipeline while optimising: quick (about 2 s a "
            "photo), but another resizer or an upload usually undoes it (measured: the label back after an upload "
            "on 3 photos in 4). SSIM 0.998.",
    "Balanced": "Invisible colour budget (CIEDE2000, at most 3), optimised over many resizers, crops and uploads; "
                "no label related to the original may stay in the top 5, checked on held-out resizers and an "
                "upload. Measured: the label gone behind other resizers on 9 photos in 10, after an upload on 7 "
                "in 10; mean ΔE00 0.9, SSIM 0.986; about 25 s a photo.",
    "Strong": "As Balanced, against two models at once (EfficientNet-Lite0 and Lite1), with a larger budget "
              "(ΔE00 at most 4) and more steps. Measured: the label gone on 9 photos in 10 behind every other "
              "resizer and after an upload, and a model it never saw (Lite2) fooled on 6 in 10; mean ΔE00 1.3, "
              "SSIM 0.975, so a close look may find it; about a minute a photo.",
    "Custom": "Your own settings.",
}
# One line each under the buttons; the measured account above is the tooltip.
PRESET_SUMMARY = {
    "Fast": "Quick, but another resizer or an upload usually undoes it.",
    "Balanced": "Invisible; holds behind most resizers and uploads. About 25 s a photo.",
    "Strong": "Two models, a larger change: holds more often; a close look may find it. About a minute a photo.",
    "Custom": "Your own settings.",
}
DEFAULT_PRESET = "Balanced"

CONDITION_TEXT = {
    "top1": ("Top prediction changes", "Protected when the label is no longer the most likely one."),
    "top5": ("Leaves the top 5", "Protected when the label is no longer among the five most likely labels."),
    "top1-margin": ("Top prediction, clear margin",
                    "Protected when another label leads the original one by at least half its probability."),
    "semantic": ("Nothing related in the top 5",
                 "Protected when no label related to the original (e.g. another cat breed) is in the top 5."),
    "target": ("It sees the target label", "Protected when the classifier's top prediction is the target label."),
    "tags-hidden": ("Chosen tags leave the top k", "Protected when every tag to hide has left the top k tags."),
}
FORMAT_TEXT = {"keep": "Same as original", "png": "PNG", "jpeg": "JPEG", "webp": "WebP (lossless)",
               "tiff": "TIFF", "bmp": "BMP"}
METADATA_TEXT = {
    "strip": ("Remove", "Drop GPS, camera serial numbers, owner, thumbnails and all "
                                                   "other EXIF/XMP/IPTC; keep only the colour profile."),
    "keep-safe": ("Keep date and camera", "Keep the capture date, camera and exposure settings; drop location "
                                          "and everything that identifies you."),
    "keep": ("Keep all, even location", "Keep all EXIF except the embedded thumbnail and maker "
                                                    "notes. This keeps GPS location too."),
}
DEVICE_TEXT = {"auto": "Automatic", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}
MODEL_STATUS_TEXT = {
    "installed": "Installed with PixelGuard: works offline.",
    "cached": "Downloaded: works offline.",
    "not-downloaded": "Not downloaded yet ({size:.0f} MB): downloaded on first use, or now.",
    "not-installed": "Its weights package is missing: reinstall PixelGuard.",
}


def model_item_text(name: str) -> str:
    """The model menu's line: the name, and the download size while the model needs one."""
    try:
        if model_status(name) == "not-downloaded":
            return f"{name}  (download, {get_entry(name).download_mb:.0f} MB)"
    except PixelGuardError:
        pass  # refresh_model_status shows the reason
    return name


def ensemble_item_text(spec: str) -> str:
    """'efficientnet-lite0 + lite1 (together)': the family named once."""
    names = spec.split(",")
    family = names[0][: names[0].rfind("-") + 1]
    rest = [name.removeprefix(family) if family and name.startswith(family) else name for name in names[1:]]
    return " + ".join([names[0], *rest]) + " (together)"


def default_output_folder() -> str:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation) or str(Path.home())
    return str(Path(pictures) / "PixelGuard")


# -- per-method options -------------------------------------------------------------------------
class MethodOptions(QWidget):
    """The controls a method adds below the common settings (none by default).

    `option_names`: the fields of the method's options dataclass these controls set (a test
    checks them against each method's declaration); `wants_tags`: whether it needs the selected
    photo's tags (the window then sends them to set_tags).
    """

    option_names: tuple[str, ...] = ()
    wants_tags = False

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)

    def apply(self, settings: ProtectSettings) -> None:
        """Copy this method's options into `settings`."""

    def save(self, store: QSettings) -> None:
        """Persist what is worth keeping between runs."""

    def load(self, store: QSettings) -> None:
        pass


class LabelOptions(MethodOptions):
    """Which label to remove (default: the model's top prediction on the original)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLineEdit(placeholderText="the top prediction")
        self.label.setToolTip("The label to remove, exactly as the model names it; leave empty to remove "
                              "whatever the model sees first in each photo.")
        self.form.addRow("Label to remove", self.label)

    def apply(self, settings: ProtectSettings) -> None:
        settings.label = self.label.text().strip() or None


class LabelFoolOptions(MethodOptions):
    """LabelFool: the label the classifier should see instead, and the privacy variant."""

    option_names = ("target", "privacy_target")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.target = QLineEdit(placeholderText="chosen automatically")
        self.target.setToolTip("The label the classifier should see instead; leave empty to let LabelFool pick a "
                               "plausible one.")
        self.privacy = QCheckBox("Only unrelated targets")
        self.privacy.setToolTip("Never aim for a label related to the original (not 'bedroom' → 'hotel room').")
        self.form.addRow("Target label", self.target)
        self.form.addRow("", self.privacy)

    def apply(self, settings: ProtectSettings) -> None:
        settings.target = self.target.text().strip() or None
        settings.privacy_target = self.privacy.isChecked()

    def save(self, store: QSettings) -> None:
        store.setValue("labelfool/privacy_target", self.privacy.isChecked())

    def load(self, store: QSettings) -> None:
        self.privacy.setChecked(store.value("labelfool/privacy_target", False, type=bool))


class TagOptions(MethodOptions):
    """Tag hiding: k, and the selected photo's current tags as check boxes to tick the ones to hide."""

    option_names = ("hide",)
    wants_tags = True
    tags_changed = Signal()

    def __init__(self, hint: str, none_ticked: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.none_ticked = none_ticked  # what the method does when no box is ticked, said under the boxes
        self.k = QSpinBox(minimum=1, maximum=50, value=5)
        self.k.setToolTip("How many tags the tagger shows; a hidden tag must leave these top k.")
        self.k.valueChanged.connect(self.tags_changed)
        self.hint_text = hint
        self.hint = QLabel(hint)
        self.hint.setWordWrap(True)
        self.boxes_widget = QWidget()
        self.boxes_layout = QVBoxLayout(self.boxes_widget)
        self.boxes_layout.setContentsMargins(0, 0, 0, 0)
        self.boxes: list[QCheckBox] = []
        self.choice = QLabel()
        self.choice.setWordWrap(True)
        self.form.addRow("Top k tags", self.k)
        self.form.addRow(self.hint)
        self.form.addRow(self.boxes_widget)
        self.form.addRow(self.choice)

    def set_tags(self, tags: list) -> None:
        """tags: pixelguard.tagging.Tag, best first; ticks on tags listed again are kept."""
        ticked = set(self.ticked())
        for box in self.boxes:
            box.deleteLater()
        self.boxes = []
        for tag in tags:
            box = QCheckBox(f"{tag.label}  ({tag.score:.0%})")
            box.setProperty("tag", tag.label)
            box.setChecked(tag.label in ticked)
            box.toggled.connect(self._show_choice)
            self.boxes_layout.addWidget(box)
            self.boxes.append(box)
        self.hint.setText(self.hint_text if tags else "Select a photo to see its tags.")
        self._show_choice()

    def ticked(self) -> tuple[str, ...]:
        return tuple(box.property("tag") for box in self.boxes if box.isChecked())

    def _show_choice(self) -> None:
        ticked = self.ticked()
        self.choice.setText(f"To hide: {', '.join(ticked)}." if ticked else self.none_ticked)

    def apply(self, settings: ProtectSettings) -> None:
        settings.k = self.k.value()
        settings.hide = self.ticked()

    def save(self, store: QSettings) -> None:
        store.setValue("tags/k", self.k.value())

    def load(self, store: QSettings) -> None:
        self.k.setValue(int(store.value("tags/k", 5)))


# --method -> its options widget; a new method with controls is one class and one line here.
METHOD_OPTIONS = {
    "cvpire": LabelOptions,
    "kaa": LabelOptions,
    "labelfool": LabelFoolOptions,
    "tkmia": lambda: TagOptions("Tick the tags to hide; the others should stay.",
                                "None ticked: the photo's top tag will be hidden."),
    "tkml-ap": lambda: TagOptions("Tick tags to push out of the top k.",
                                  "None ticked: all of the top k tags will be pushed out."),
}


# -- the panel ----------------------------------------------------------------------------------
class SettingsPanel(QWidget):
    """Every protection setting; presets set several at once; load()/save() use QSettings."""

    preview_settings_changed = Signal()  # model, device or map settings: previews must be redone
    strength_changed = Signal(float)
    method_changed = Signal(str)
    output_changed = Signal()
    download_requested = Signal(str)
    tags_changed = Signal()  # the tag method's k: the photo's tags must be listed again

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._applying_preset = False
        layout = QVBoxLayout(self)
        layout.addWidget(self._preset_box())
        layout.addWidget(self._model_box())
        layout.addWidget(self._protection_box())
        layout.addWidget(self._output_box())
        layout.addStretch(1)
        self._method_changed()
        self._format_changed()

    @staticmethod
    def _form(title: str) -> tuple[QGroupBox, QFormLayout]:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        return box, form

    @staticmethod
    def _combo(items: dict[str, str] | list[str], tips: dict[str, str] | None = None) -> QComboBox:
        combo = QComboBox()
        for value in items:
            combo.addItem(items[value] if isinstance(items, dict) else value, value)
            if tips and value in tips:
                combo.setItemData(combo.count() - 1, tips[value], Qt.ItemDataRole.ToolTipRole)
        # As wide as the longest entry, so no choice is ever cut off; the window gives the panel
        # the width its widest row needs (MainWindow.reset_layout).
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        return combo

    def _preset_box(self) -> QGroupBox:
        box = QGroupBox("Preset")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        row.setSpacing(0)
        self.preset_buttons = QButtonGroup(self)
        for name in PRESETS:
            button = QPushButton(name)
            button.setCheckable(True)
            button.setToolTip(PRESET_HELP[name])
            self.preset_buttons.addButton(button)
            row.addWidget(button)
        self.preset_buttons.buttonClicked.connect(lambda button: self.apply_preset(button.text()))
        self.preset_help = QLabel()
        self.preset_help.setWordWrap(True)
        layout.addLayout(row)
        layout.addWidget(self.preset_help)
        return box

    def _model_box(self) -> QGroupBox:
        box, form = self._form("Classifier and method")
        # The full list arrives from a background thread (set_models): building it imports torchvision.
        self.model = self._combo([DEFAULT_MODEL])
        self.model.setToolTip("The classifier the photos are protected against.")
        self.models_listed = False
        self.model_status = QLabel()
        self.model_status.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download this model now, so protecting works offline later.")
        self.download_button.clicked.connect(lambda: self.download_requested.emit(self.model.currentData()))
        status_row = QVBoxLayout()  # the status wraps on its own row: beside a button it lost its last words
        status_row.addWidget(self.model_status)
        status_row.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignRight)
        self.method = self._combo({name: method.title for name, method in METHODS.items()},
                                  {name: f"{method.summary} ({method.paper})" for name, method in METHODS.items()})
        self.method_summary = QLabel()
        self.method_summary.setWordWrap(True)
        # Only the current method's options are shown, so the box is as tall as they are.
        self.options_area = QWidget()
        options_layout = QVBoxLayout(self.options_area)
        options_layout.setContentsMargins(0, 0, 0, 0)
        self.no_options = MethodOptions()
        self.method_options: dict[str, MethodOptions] = {}
        for name in METHODS:
            if name in METHOD_OPTIONS:
                widget = METHOD_OPTIONS[name]()
                if widget.wants_tags:
                    widget.tags_changed.connect(self.tags_changed)
                self.method_options[name] = widget
                options_layout.addWidget(widget)
        form.addRow(QLabel("Model"))
        form.addRow(self.model)  # a row of its own: registry names and download sizes are long
        form.addRow(status_row)
        form.addRow("Method", self.method)
        form.addRow(self.method_summary)
        form.addRow(self.options_area)
        self.model.currentIndexChanged.connect(self._model_changed)
        self.method.currentIndexChanged.connect(self._method_changed)
        return box

    def _protection_box(self) -> QGroupBox:
        box, form = self._form("Protection")
        self.condition = self._combo({name: CONDITION_TEXT.get(name, (name,))[0] for name in CONDITION_NAMES},
                                     {name: text[1] for name, text in CONDITION_TEXT.items()})
        self.condition.setToolTip("When a photo counts as protected. Checked on the saved file.")
        self.strength = QSpinBox(minimum=1, maximum=255, suffix=" levels")
        self.strength_slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=64)
        strength_tip = ("The most a pixel's colour may change, in 8-bit levels (out of 255), in the busiest parts "
                        "of the photo. Flat areas such as sky change far less. Higher protects more surely but "
                        "may become visible.")
        self.strength.setToolTip(strength_tip)
        self.strength_slider.setToolTip(strength_tip)
        self.strength_slider.valueChanged.connect(self.strength.setValue)
        self.strength.valueChanged.connect(lambda value: self.strength_slider.setValue(min(value, 64)))
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength)
        self.l1 = QDoubleSpinBox(minimum=0.0, maximum=10.0, singleStep=0.25, decimals=2)
        self.l1.setToolTip("How hard the protection tries to use less than its allowance (an L1 penalty): higher "
                           "keeps the change smaller, 0 lets it use the full strength everywhere.")
        self.iterations = QSpinBox(minimum=1, maximum=5000, singleStep=10)
        self.iterations.setToolTip("The most optimisation steps per photo. It stops as soon as the photo is "
                                   "protected, often after a few steps.")
        self.budget = self._combo({"delta-e": "Perceptual", "rgb": "Per channel (paper)"}, {
            "delta-e": "Bounds how different each pixel looks (CIEDE2000), more in texture, least next to flat "
                       "areas such as sky, so no coloured fringes appear.",
            "rgb": "The published budget: each colour channel by strength x colour variance."})
        self.max_delta_e = QDoubleSpinBox(minimum=0.5, maximum=20.0, singleStep=0.5, decimals=1, suffix=" ΔE00")
        self.max_delta_e.setToolTip("The largest visible colour difference allowed, in textured areas (about 1 "
                                    "is the smallest difference people notice side by side); flat areas get a "
                                    "quarter of it.")
        self.robust = QCheckBox("Robust to other resizers and uploads")
        self.robust.setToolTip("Optimise over many ways a platform shrinks, re-encodes and crops a photo, not "
                               "only this model's own. Slower; without it a protection rarely survives an upload.")
        form.addRow("Protected when", self.condition)
        # The preset sets these; they fold away so the settings fit a 1280x720 screen.
        self.fine_tune = QToolButton(text="Fine-tune: budget, steps, device", checkable=True)
        self.fine_tune.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.fine_tune.setAutoRaise(True)
        self.fine_tune.setToolTip("Budget, strength and iterations (the presets set them for you), and the device.")
        self.fine_tune_area = QWidget()
        self.fine_tune_form = advanced = QFormLayout(self.fine_tune_area)
        advanced.setContentsMargins(0, 0, 0, 0)
        advanced.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        advanced.addRow("Colour budget", self.budget)
        advanced.addRow("Largest change", self.max_delta_e)
        advanced.addRow(self.robust)
        advanced.addRow("Strength", strength_row)
        advanced.addRow("Keep change small (L1)", self.l1)
        advanced.addRow("Max. iterations", self.iterations)
        self.fine_tune.toggled.connect(self._show_fine_tuning)
        self._show_fine_tuning(False)
        form.addRow(self.fine_tune)
        form.addRow(self.fine_tune_area)
        for signal in (self.condition.currentIndexChanged, self.strength.valueChanged, self.l1.valueChanged,
                       self.iterations.valueChanged, self.budget.currentIndexChanged, self.max_delta_e.valueChanged,
                       self.robust.toggled):
            signal.connect(self._mark_custom)
        self.budget.currentIndexChanged.connect(self._budget_changed)
        self._budget_changed()
        self.strength.valueChanged.connect(lambda value: self.strength_changed.emit(float(value)))
        return box

    def _output_box(self) -> QGroupBox:
        box, form = self._form("Output")
        self.output = QLineEdit()
        self.output.setToolTip("Protected copies go here, with the original file names. Originals are never "
                               "changed.")
        self.output.editingFinished.connect(self.output_changed)
        # The field may be narrower than the path: the whole path is in its tooltip.
        self.output.textChanged.connect(lambda text: self.output.setToolTip(
            f"{text}\n\nProtected copies go here, with the original file names. Originals are never changed."))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(browse)
        self.format = self._combo({name: FORMAT_TEXT.get(name, name) for name in OUTPUT_FORMATS})
        self.format.setToolTip("The file format of the protected copies. JPEG is checked after compression.")
        self.format.currentIndexChanged.connect(self._format_changed)
        # 0 stands for "as the original": a JPEG photo keeps its own compression (tables, subsampling).
        self.jpeg_quality = QSpinBox(minimum=0, maximum=100)
        self.jpeg_quality.setSpecialValueText("Same as original")
        self.jpeg_quality.setToolTip("JPEG quality of the protected copies. \"Same as original\": a JPEG photo is "
                                     f"written with its own compression, so it loses no more than it already had; "
                                     f"other photos get quality {DEFAULT_JPEG_QUALITY}.")
        self.metadata = self._combo({name: METADATA_TEXT.get(name, (name,))[0] for name in METADATA_POLICIES},
                                    {name: text[1] for name, text in METADATA_TEXT.items()})
        self.metadata.setToolTip("What the protected copies keep of the photo's metadata.")
        self.overwrite = QCheckBox("Replace existing protected copies")
        self.overwrite.setToolTip("Off: photos an earlier run protected into this folder (the copy unchanged since) are "
                                  "skipped, so a batch resumes.")
        self.overwrite.toggled.connect(self.output_changed)
        self.keep_failed = QCheckBox("Also save photos that were not protected")
        self.keep_failed.setToolTip("Off: a photo that could not be protected is not written. On: it is written as "
                                    "NAME.NOT-PROTECTED.ext, so you can look at how close it came; that name "
                                    "never looks like a protected copy.")
        self.device = self._combo({name: DEVICE_TEXT.get(name, name) for name in DEVICE_CHOICES})
        self.device.setToolTip("Where the computing happens. Automatic uses a GPU when there is one.")
        for index, name in enumerate(DEVICE_CHOICES):
            try:
                resolve_device(name)
            except PixelGuardError as error:
                self._disable_item(self.device, index, str(error))
        self.device.currentIndexChanged.connect(self.preview_settings_changed)
        form.addRow("Folder", output_row)
        form.addRow("Format", self.format)
        form.addRow("JPEG quality", self.jpeg_quality)
        form.addRow("Metadata", self.metadata)
        form.addRow(self.overwrite)
        form.addRow(self.keep_failed)
        self.fine_tune_form.addRow("Device", self.device)  # rarely changed: folded with the fine-tuning
        return box

    @staticmethod
    def _disable_item(combo: QComboBox, index: int, reason: str) -> None:
        item = combo.model().item(index)
        item.setEnabled(False)
        item.setToolTip(reason)

    # -- reactions ----------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        values = PRESETS[name]
        self._applying_preset = True
        self._select(self.condition, values["condition"])  # not where the method is judged otherwise
        self._select(self.budget, values["budget"])
        self.max_delta_e.setValue(values["max_delta_e"])
        self.robust.setChecked(values["views"] == "robust")
        self.strength.setValue(values["strength"])
        self.l1.setValue(values["l1"])
        self.iterations.setValue(values["max_iter"])
        if self.model.findData(values["model"]) < 0:
            self.model.addItem(ensemble_item_text(values["model"]), values["model"])
        self._select(self.model, values["model"])
        self._applying_preset = False
        self._show_preset(name)

    def _show_fine_tuning(self, shown: bool) -> None:
        self.fine_tune_area.setVisible(shown)
        self.fine_tune.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _budget_changed(self) -> None:
        perceptual = self.budget.currentData() == "delta-e"
        self.max_delta_e.setEnabled(perceptual)
        self.strength.setEnabled(not perceptual)
        self.strength_slider.setEnabled(not perceptual)

    def preset_name(self) -> str:
        button = self.preset_buttons.checkedButton()
        return button.text() if button is not None else "Custom"

    def _show_preset(self, name: str) -> None:
        self.preset_buttons.setExclusive(False)
        for button in self.preset_buttons.buttons():
            button.setChecked(button.text() == name)
        self.preset_buttons.setExclusive(True)
        name = name if name in PRESETS else "Custom"
        self.preset_help.setText(PRESET_SUMMARY[name])
        self.preset_help.setToolTip(PRESET_HELP[name])

    def _mark_custom(self) -> None:
        if not self._applying_preset:
            self._show_preset("Custom")

    def _model_changed(self) -> None:
        self.refresh_model_status()
        self.preview_settings_changed.emit()

    def set_models(self, entries: list[ModelEntry]) -> None:
        """Fill the model list, keeping the current choice when it is a registry model."""
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        for entry in entries:
            self.model.addItem(model_item_text(entry.name), entry.name)
            self.model.setItemData(self.model.count() - 1, f"{entry.description} · {entry.licence}",
                                   Qt.ItemDataRole.ToolTipRole)
        for spec in sorted({values["model"] for values in PRESETS.values() if "," in values["model"]}):
            self.model.addItem(ensemble_item_text(spec), spec)
        self.models_listed = True
        self._select(self.model, current)
        self.model.blockSignals(False)
        if self.model.currentData() != current:
            self._model_changed()
        else:
            self.refresh_model_status()

    def refresh_model_status(self) -> None:
        name = self.model.currentData()
        if not self.models_listed:
            self.model_status.setText("Checking the model…")
            self.download_button.hide()
            return
        try:
            members = name.split(",")
            statuses = [model_status(member) for member in members]
            status = next((each for each in statuses if each != "installed"), "installed")
            text = MODEL_STATUS_TEXT[status].format(size=sum(get_entry(member).download_mb for member in members))
            if len(members) > 1:
                text = f"Ensemble of {len(members)} models. " + text
        except PixelGuardError as error:
            status, text = "", str(error)
        self.model_status.setText(text)
        self.download_button.setVisible(status == "not-downloaded")
        if "," not in name:
            self.model.setItemText(self.model.currentIndex(), model_item_text(name))

    def _method_changed(self) -> None:
        name = self.method.currentData()
        options = self.current_options()
        for widget in self.method_options.values():
            widget.setVisible(widget is options)
        self.options_area.setVisible(options is not self.no_options)
        method = METHODS[name]
        self.method_summary.setText(f"Method: {method.paper}")  # what it does is the menu's own wording
        self.method_summary.setToolTip(method.summary.capitalize() + ".")
        self._offer_conditions(method.conditions)
        self.method_changed.emit(name)

    def _offer_conditions(self, supported: tuple[str, ...]) -> None:
        """Only the conditions the method can be judged by are selectable; a method judged one way
        shows that way, greyed."""
        for index in range(self.condition.count()):
            item = self.condition.model().item(index)
            value = self.condition.itemData(index)
            item.setEnabled(value in supported)
            item.setToolTip(CONDITION_TEXT.get(value, ("", ""))[1] if value in supported
                            else "This method is not judged this way.")
        if self.condition.currentData() not in supported:
            self.condition.blockSignals(True)
            self._select(self.condition, supported[0])
            self.condition.blockSignals(False)
        self.condition.setEnabled(len(supported) > 1)

    def current_options(self) -> MethodOptions:
        return self.method_options.get(self.method.currentData(), self.no_options)

    def _format_changed(self) -> None:
        self.jpeg_quality.setEnabled(self.format.currentData() in ("jpeg", "keep"))
        self.output_changed.emit()

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for protected copies", self.output.text())
        if folder:
            self.output.setText(folder)
            self.output_changed.emit()

    # -- values -------------------------------------------------------------------------
    def settings(self) -> ProtectSettings:
        settings = ProtectSettings(
            model=self.model.currentData(), method=self.method.currentData(),
            condition=self.condition.currentData(), strength=self.strength.value(), l1=self.l1.value(),
            budget=self.budget.currentData(), max_delta_e=self.max_delta_e.value(),
            views="robust" if self.robust.isChecked() else "model",
            max_iter=self.iterations.value(), format=self.format.currentData(),
            jpeg_quality=self.jpeg_quality.value() or None, metadata=self.metadata.currentData(),
            device=self.device.currentData(),
        )
        self.current_options().apply(settings)
        return settings

    def output_folder(self) -> Path:
        """The chosen folder; an empty field is the default folder (the field shows it again)."""
        text = self.output.text().strip()
        if not text:
            text = default_output_folder()
            self.output.setText(text)
        return Path(text).expanduser()

    def output_format(self) -> str:
        return self.format.currentData()

    def replace_existing(self) -> bool:
        return self.overwrite.isChecked()

    def keep_unprotected(self) -> bool:
        """Whether photos that could not be protected are written too, marked NOT-PROTECTED."""
        return self.keep_failed.isChecked()

    def strength_levels(self) -> float:
        return float(self.strength.value())

    def tags_wanted(self) -> int:
        """How many of the photo's ranked tags the current method's controls list (0: none)."""
        options = self.current_options()
        return options.k.value() if options.wants_tags else 0

    def show_tags(self, tags: list) -> None:
        options = self.current_options()
        if options.wants_tags:
            options.set_tags(tags)

    def load(self, store: QSettings) -> None:
        defaults = ProtectSettings()
        store.beginGroup("settings")
        model = store.value("model", defaults.model)
        if self.model.findData(model) < 0 and not self.models_listed:
            self.model.addItem(model, model)  # checked against the registry in set_models
        self._select(self.model, model)
        self._select(self.method, store.value("method", defaults.method))
        self._select(self.condition, store.value("condition", defaults.condition))
        self._select(self.budget, store.value("budget", defaults.budget))
        self.max_delta_e.setValue(float(store.value("max_delta_e", defaults.max_delta_e)))
        self.robust.setChecked(store.value("views", defaults.views) == "robust")
        self.strength.setValue(int(float(store.value("strength", defaults.strength))))
        self.l1.setValue(float(store.value("l1", defaults.l1)))
        self.iterations.setValue(int(store.value("max_iter", defaults.max_iter)))
        self.output.setText(store.value("output", default_output_folder()))
        self._select(self.format, store.value("format", defaults.format))
        self.jpeg_quality.setValue(int(store.value("jpeg_quality", defaults.jpeg_quality or 0) or 0))
        self._select(self.metadata, store.value("metadata", defaults.metadata))
        self._select(self.device, store.value("device", defaults.device))
        self.overwrite.setChecked(store.value("overwrite", False, type=bool))
        self.fine_tune.setChecked(store.value("fine_tune", False, type=bool))
        self.keep_failed.setChecked(store.value("keep_failed", False, type=bool))
        for options in self.method_options.values():
            options.load(store)
        self._show_preset(store.value("preset", DEFAULT_PRESET))
        store.endGroup()
        self.refresh_model_status()

    def save(self, store: QSettings) -> None:
        settings = self.settings()
        store.beginGroup("settings")
        store.setValue("preset", self.preset_name())
        for key in ("model", "method", "condition", "budget", "max_delta_e", "views", "strength", "l1", "max_iter",
                    "format", "jpeg_quality", "metadata", "device"):
            store.setValue(key, getattr(settings, key))
        store.setValue("output", self.output.text())
        store.setValue("overwrite", self.overwrite.isChecked())
        store.setValue("fine_tune", self.fine_tune.isChecked())
        store.setValue("keep_failed", self.keep_failed.isChecked())
        for options in self.method_options.values():
            options.save(store)
        store.endGroup()

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        if index >= 0 and combo.model().item(index).isEnabled():
            combo.setCurrentIndex(index)
