"""The GUI's pieces on small synthetic inputs: fast, no model."""

import subprocess
import sys
from dataclasses import fields as dataclass_fields
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import QPushButton

from pixelguard.attacks import METHODS
from pixelguard.gui import icon
from pixelguard.gui.photo_queue import PhotoQueueModel, Status
from pixelguard.gui.predictions import PredictionsPanel
from pixelguard.gui.settings_panel import METHOD_OPTIONS, PRESETS, SettingsPanel
from pixelguard.gui.viewer import ImageCanvas, Mode, ViewState
from pixelguard.gui.run_controller import BatchProgress, describe_seconds
from pixelguard.batch import Job, Manifest
from pixelguard.protect import ProtectionRecord
from pixelguard.settings import ProtectSettings


# -- batch progress and time left ---------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_time_left_comes_from_measured_iterations_not_photo_counts():
    clock = FakeClock()
    batch = BatchProgress(2, max_iter=100, clock=clock)
    assert batch.seconds_left() is None and batch.fraction == 0
    batch.start_photo()
    clock.now += 0.5  # loading and the budget map, before the first step
    batch.iteration(1, 100)
    assert batch.seconds_left() is None  # no step timed yet
    clock.now += 0.4
    batch.iteration(2, 100)  # 0.4 s a step
    # Nothing finished: max_iter is only a cap, said as "at most".
    assert batch.upper_bound and batch.seconds_left() == pytest.approx(0.4 * (98 + 100))
    clock.now += 0.4
    batch.iteration(3, 100)
    clock.now += 0.3
    batch.finish_photo(3)  # protected after 3 steps, 1.6 s in all: 0.4 s a step + 0.4 s fixed
    assert not batch.upper_bound
    batch.start_photo()
    assert batch.seconds_left() == pytest.approx(3 * 0.4 + (1.6 - 3 * 0.4))
    assert batch.fraction == pytest.approx(3 / 6)


def test_a_file_that_fails_at_once_does_not_shorten_the_estimate():
    """The issue's case: a corrupt file failed at once while the next photo was at 10 % of a long job."""
    clock = FakeClock()
    batch = BatchProgress(2, max_iter=100, clock=clock)
    batch.start_photo()
    batch.finish_photo(0)  # unreadable: no iterations
    batch.start_photo()
    for step in range(1, 11):
        clock.now += 1.2
        batch.iteration(step, 100)
    assert batch.fraction == pytest.approx(10 / 100)
    assert batch.seconds_left() == pytest.approx(90 * 1.2)
    assert describe_seconds(batch.seconds_left(), at_most=batch.upper_bound) == "at most 2 min left"


def test_further_attempts_count_on_from_the_earlier_ones():
    clock = FakeClock()
    batch = BatchProgress(1, max_iter=10, clock=clock)
    batch.start_photo()
    for step in (1, 2, 3, 1, 2):  # a second attempt restarts at step 1
        clock.now += 1
        batch.iteration(step, 10)
    assert batch.current == pytest.approx(5 / 10)  # 3 steps, then 2 more


def test_a_photo_cancelled_mid_way_is_not_left_running(window, tmp_path):
    """Cancel while the second photo runs: the first keeps its result, the second and third go
    back to waiting, the verdict and the status bar say what is on disk."""
    from pixelguard.gui.run_controller import BatchProgress

    photos = []
    for name in ("a.png", "b.png", "c.png"):
        photos.append(tmp_path / name)
        Image.new("RGB", (40, 30), "teal").save(photos[-1])
    window.add_paths(photos)
    runs = window.runs

    class FinishedRun:
        def dispose(self):
            pass

    runs._rows, runs._finished, runs._cancelled = [0, 1, 2], set(), False
    runs._out_dir, runs._failure = tmp_path / "protected", ""
    runs.batch = BatchProgress(3, max_iter=10)
    runs.counts = {"protected": 0, "failed": 0, "error": 0, "earlier": 0}
    runs._protect = FinishedRun()
    for row in range(3):
        window.photos.set_status(row, Status.QUEUED)
    done = ProtectionRecord(input=str(photos[0]), output=str(tmp_path / "protected" / "a.png"), success=True,
                            status="protected", verdict="Protected: …", iterations=3, ssim=0.99, psnr=44.0,
                            delta_e_mean=0.7, linf=9)
    runs._photo_started(0)
    runs._photo_finished(0, done)
    runs._photo_started(1)
    window.queue.setCurrentIndex(window.photos.index(1))
    assert "Protecting now" in window.predictions.verdict.text()
    runs._cancelled = True
    runs._protect_finished(True)
    assert [item.status for item in window.photos.items] == [Status.PROTECTED, Status.WAITING, Status.WAITING]
    assert "Protecting now" not in window.predictions.verdict.text()
    assert window.statusBar().currentMessage() == (
        f"Cancelled. 1 protected; 2 not protected yet. Protected copies are in {tmp_path / 'protected'}.")
    assert "· 1 protected" in window.queue_title.text() and not runs.protecting


def test_time_left_in_words():
    assert describe_seconds(None) == "estimating time left…"
    assert describe_seconds(0.2) == "about 1 s left"
    assert describe_seconds(90) == "about 2 min left"
    assert describe_seconds(5400) == "about 1.5 h left"
    assert describe_seconds(30, at_most=True) == "at most 30 s left"


# -- the picture canvas -------------------------------------------------------------------------
def canvas_with_picture(qtbot, size=(400, 300), picture=(800, 600)) -> ImageCanvas:
    canvas = ImageCanvas(ViewState())
    qtbot.addWidget(canvas)
    canvas.resize(*size)
    image = QPixmap(*picture)
    image.fill(Qt.GlobalColor.darkGreen)
    second = QPixmap(*picture)
    second.fill(Qt.GlobalColor.darkRed)
    canvas.set_pictures(image, second, ("Original", "Protected"))
    canvas.show()
    return canvas


def test_fit_then_actual_pixels_shows_one_photo_pixel_per_screen_pixel(qtbot):
    canvas = canvas_with_picture(qtbot)
    assert canvas.image_rect().size().toSize() == canvas.size()  # 800x600 fits 400x300 at 50 %
    assert canvas.zoom_level() == pytest.approx(0.5)
    canvas.actual_pixels()
    ratio = canvas.devicePixelRatioF()
    assert canvas.zoom_level() == pytest.approx(1.0)
    assert canvas.image_rect().width() == pytest.approx(800 / ratio)


def test_wheel_zoom_keeps_the_point_under_the_pointer(qtbot):
    canvas = canvas_with_picture(qtbot)
    canvas.actual_pixels()
    anchor = QPointF(100, 80)
    rect = canvas.image_rect()
    before = ((anchor.x() - rect.left()) / rect.width(), (anchor.y() - rect.top()) / rect.height())
    canvas.zoom_by(2.0, anchor)
    rect = canvas.image_rect()
    after = ((anchor.x() - rect.left()) / rect.width(), (anchor.y() - rect.top()) / rect.height())
    assert canvas.zoom_level() == pytest.approx(2.0)
    assert after == pytest.approx(before, abs=1e-6)
    canvas.zoom_by(0.01)  # below fit: back to fit
    assert canvas.state.zoom is None


def test_dragging_pans_at_100_percent_and_never_past_the_edge(qtbot):
    canvas = canvas_with_picture(qtbot)
    canvas.set_mode(Mode.SINGLE)
    canvas.actual_pixels()
    start = canvas.image_rect()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.mouseMove(canvas, QPoint(150, 120))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(150, 120))
    moved = canvas.image_rect()
    assert (moved.left() - start.left(), moved.top() - start.top()) == pytest.approx((-50, -30))
    for _ in range(20):  # far past the corner
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(390, 290))
        qtbot.mouseMove(canvas, QPoint(10, 10))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    rect = canvas.image_rect()
    assert rect.right() == pytest.approx(canvas.width()) and rect.bottom() == pytest.approx(canvas.height())


def test_split_line_follows_the_mouse_and_flicker_alternates(qtbot):
    canvas = canvas_with_picture(qtbot)
    canvas.set_mode(Mode.SPLIT)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 150))
    assert canvas.split == pytest.approx(0.25)
    qtbot.mouseMove(canvas, QPoint(300, 150))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 150))
    assert canvas.split == pytest.approx(0.75)
    grab = canvas.grab().toImage()
    assert QImage.pixelColor(grab, 50, 200).green() > 90 and QImage.pixelColor(grab, 350, 200).red() > 120
    canvas.set_mode(Mode.FLICKER)
    assert canvas.flickering
    first = canvas.showing_second
    qtbot.waitUntil(lambda: canvas.showing_second != first, timeout=2000)
    canvas.set_mode(Mode.SPLIT)
    assert not canvas.flickering


# -- the queue ----------------------------------------------------------------------------------
def test_queue_reads_thumbnails_off_the_gui_thread_and_reports_bad_files(qtbot, tmp_path):
    upright = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated by 90 degrees
    Image.new("RGB", (120, 60), "orange").save(upright, exif=exif)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    model = PhotoQueueModel()
    assert model.add([(upright, None), (broken, None)]) == 2
    assert model.add([(upright, None)]) == 0  # already queued
    qtbot.waitUntil(lambda: model.item(0).thumbnail is not None and model.item(1).status is Status.FAILED,
                    timeout=10_000)
    assert model.item(0).pixels == (60, 120)
    assert model.item(0).size_text.startswith("60×120 · ")
    assert "not an image" in model.item(1).reason
    assert model.item(1).status_text.startswith("Failed: ")
    model.wait_for_thumbnails()


@pytest.mark.parametrize("record, status, text", [
    (ProtectionRecord(input="a.png", verdict="Protected: 'tabby' is no longer in the top 5"),
     Status.PROTECTED, "Protected"),
    (ProtectionRecord(input="a.png", status="failed", reason="'tabby' still in the top 5",
                      verdict="Not protected: 'tabby' still in the top 5"),
     Status.NOT_PROTECTED, "Not protected: 'tabby' still in the top 5"),
    (ProtectionRecord(input="a.png", status="error", error="a.png: damaged file"),
     Status.FAILED, "Failed: damaged file"),
    (ProtectionRecord(input="a.png", resumed=True, verdict="Protected: ... (in an earlier run)"),
     Status.ALREADY_PROTECTED, "Already protected"),
])
def test_queue_status_follows_the_record(record, status, text, tmp_path):
    photo = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(photo)
    model = PhotoQueueModel()
    model.add([(photo, None)])
    model.wait_for_thumbnails()
    model.set_record(0, record)
    assert model.item(0).status is status and model.item(0).status_text == text


# -- predictions --------------------------------------------------------------------------------
def test_predictions_highlight_the_removed_label_and_show_the_figures(qtbot):
    panel = PredictionsPanel()
    qtbot.addWidget(panel)
    record = ProtectionRecord(
        input="cat.png", output="out/cat.png", label="tabby", success=True, status="protected",
        verdict="Protected: 'tabby' is no longer in the top 5",
        before=[["tabby", 0.6], ["tiger cat", 0.2], ["Egyptian cat", 0.1], ["lynx", 0.05], ["carton", 0.01]],
        after=[["tiger cat", 0.5], ["Egyptian cat", 0.2], ["lynx", 0.1], ["sock", 0.05], ["carton", 0.01]],
        ssim=0.987654, psnr=41.23, delta_e_mean=0.61, linf=18, iterations=7, seconds=1.25,
        extra={"panel": [{"model": "lite0", "view": "OpenCV area resize", "held": True, "top1": "tiger cat"},
                         {"model": "lite0", "view": "upload (1080 px, JPEG q75)", "held": False, "top1": "<tabby>"}]},
    )
    panel.show_record(record)
    assert panel.before.labels()[0] == "tabby" and panel.before.highlight == "tabby"
    assert panel.after.labels() == ["tiger cat", "Egyptian cat", "lynx", "sock", "carton"]
    assert panel.verdict.text() == record.verdict and panel.verdict.property("kind") == "good"
    assert [panel.figure_text(name) for name in ("ssim", "psnr", "delta_e", "linf", "work")] == [
        "0.9877", "41.2 dB", "0.61", "18 levels", "7 · 1.2 s"]
    assert "✔ held · OpenCV area resize · lite0 reads 'tiger cat'" in panel.panel.text()
    assert "✘ <b>not held</b> · upload (1080 px, JPEG q75) · lite0 reads '&lt;tabby&gt;'" in panel.panel.text()
    panel.show_record(ProtectionRecord(input="x.png", status="error", error="x.png: damaged file"))
    assert panel.verdict.property("kind") == "bad" and "damaged file" in panel.verdict.text()


# -- settings -----------------------------------------------------------------------------------
def test_presets_set_the_values_and_editing_makes_them_custom(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    for name, values in PRESETS.items():
        panel.apply_preset(name)
        settings = panel.settings()
        assert {key: getattr(settings, key) for key in values} == values
        assert panel.preset_name() == name
    panel.strength.setValue(panel.strength.value() + 1)
    assert panel.preset_name() == "Custom"


def test_balanced_preset_is_the_engine_default():
    defaults = ProtectSettings()
    balanced = PRESETS["Balanced"]
    assert {key: getattr(defaults, key) for key in balanced if key != "condition"} == \
        {key: value for key, value in balanced.items() if key != "condition"}
    assert balanced["condition"] == defaults.build().condition


def test_every_method_gets_valid_settings_from_the_panel(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    assert set(METHOD_OPTIONS) <= set(METHODS)
    for name in METHODS:
        panel.method.setCurrentIndex(panel.method.findData(name))
        settings = panel.settings()
        assert settings.method == name
        settings.validate()
        # Only what the method is judged by can be chosen: a setting it ignores is not offered.
        method = METHODS[name]
        assert settings.condition in method.conditions
        assert panel.condition.isEnabled() == (len(method.conditions) > 1)
        offered = {panel.condition.itemData(i) for i in range(panel.condition.count())
                   if panel.condition.model().item(i).isEnabled()}
        assert offered == set(method.conditions)
    panel.method.setCurrentIndex(panel.method.findData("labelfool"))
    panel.method_options["labelfool"].target.setText("tiger cat")
    panel.method_options["labelfool"].privacy.setChecked(True)
    assert (panel.settings().target, panel.settings().privacy_target) == ("tiger cat", True)


def test_a_label_level_success_with_related_labels_left_is_not_shown_as_plain_success(qtbot):
    """The issue's case: 'Egyptian cat' left the top 5, 'tiger cat' leads the After column."""
    panel = PredictionsPanel()
    qtbot.addWidget(panel)
    record = ProtectionRecord(
        input="cat.jpg", output="out/cat.jpg", label="Egyptian cat", condition="top5", success=True,
        verdict="Protected: 'Egyptian cat' is no longer in the top 5, on all 5 checks: its own pipeline and 4 "
                "held-out ones",
        before=[["Egyptian cat", 0.6], ["tabby", 0.2]], after=[["tiger cat", 0.71], ["lynx", 0.1]],
        ssim=0.99, psnr=45.0, delta_e_mean=0.8, linf=12, iterations=9, seconds=1.2,
        extra={"related_in_topk": 2, "related_left": ["tiger cat", "lynx"], "panel": []})
    panel.show_record(record)
    assert panel.verdict.property("kind") == "warn"
    assert "'tiger cat', 'lynx' are related to 'Egyptian cat'" in panel.verdict.text()
    assert "Nothing related in the top 5" in panel.verdict.text()
    record.extra["related_left"], record.condition = [], "top5"
    record.extra["jpeg_encoding"] = "the original's JPEG tables (about quality 75, 4:2:0)"
    panel.show_record(record)
    assert panel.verdict.property("kind") == "good"
    assert ("written as JPEG with the original's JPEG tables (about quality 75, 4:2:0): the encoder changes "
            "pixels too, so the largest change (12 levels)") in panel.notes.text()


def test_a_corrupt_file_fails_when_queued_and_says_why(window, qtbot, tmp_path):
    broken = tmp_path / "broken.jpg"
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), "teal").save(good)
    data = (tmp_path / "x.jpg")
    Image.effect_noise((64, 48), 40).convert("RGB").save(data)
    broken.write_bytes(data.read_bytes()[:300])  # a JPEG cut short
    assert window.add_paths([broken, good]) == 2
    qtbot.waitUntil(lambda: window.photos.item(0).status is Status.FAILED, timeout=10_000)
    item = window.photos.item(0)
    assert "damaged" in item.reason
    window.queue.setCurrentIndex(window.photos.index(0))
    assert window.predictions.verdict.property("kind") == "bad"
    assert window.predictions.verdict.text().startswith("This photo cannot be protected: ")
    assert window.viewer.compare.single.placeholder.startswith("This photo cannot be protected")
    assert "Computing" not in window.predictions.before.placeholder
    assert window.photos.item(1).status is Status.WAITING


def test_protecting_again_asks_about_existing_copies(window, tmp_path, monkeypatch):
    photo = tmp_path / "a.png"
    Image.new("RGB", (40, 30), "teal").save(photo)
    window.add_paths([photo])
    window.photos.set_status(0, Status.ALREADY_PROTECTED)
    asked, started = [], []
    monkeypatch.setattr(window.runs, "protect",
                        lambda jobs, settings, folder, overwrite, keep_failed: started.append(overwrite))
    for answer in (None, False, True):  # cancel, keep them, replace
        monkeypatch.setattr(window, "_ask_about_existing", lambda count, total, folder: asked.append(count) or answer)
        window.photos.set_status(0, Status.ALREADY_PROTECTED)
        window.protect_all()
    assert asked == [1, 1, 1] and started == [False, True]
    window.settings_panel.overwrite.setChecked(True)  # "Replace existing protected copies": no question
    window.photos.set_status(0, Status.ALREADY_PROTECTED)
    window.protect_all()
    assert asked == [1, 1, 1] and started == [False, True, True]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_unwritable_output_folder_is_refused_before_any_photo(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    photo = tmp_path / "a.png"
    Image.new("RGB", (40, 30), "teal").save(photo)
    window.add_paths([photo])
    window.settings_panel.output.setText("/proc/pixelguard-out")  # even root cannot create files there
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    window.protect_all()
    assert not window.runs.protecting
    assert warnings and "/proc: cannot create a file there" in warnings[0] and "choose another" in warnings[0]
    assert window.photos.item(0).status is Status.WAITING


def test_a_kept_unprotected_copy_is_shown_as_not_protected(window, qtbot, tmp_path):
    photo, kept = tmp_path / "a.png", tmp_path / "protected" / "a.NOT-PROTECTED.png"
    kept.parent.mkdir()
    Image.new("RGB", (40, 30), "teal").save(photo)
    Image.new("RGB", (40, 30), "green").save(kept)
    assert not window.settings_panel.keep_unprotected()  # off unless asked
    window.settings_panel.keep_failed.setChecked(True)
    assert window.settings_panel.keep_unprotected()
    window.add_paths([photo])
    record = ProtectionRecord(input=str(photo), output=str(kept), status="failed", success=False,
                              reason="not yet true that …", verdict="Not protected: not yet true that …",
                              ssim=0.99, psnr=40.0, delta_e_mean=1.0, linf=9)
    window.photos.set_record(0, record)
    window.queue.setCurrentIndex(window.photos.index(0))
    window.show_current()
    qtbot.waitUntil(lambda: window.viewer.compare.protected is not None, timeout=10_000)
    assert window.viewer.compare.caption == "NOT protected"
    assert window.predictions.verdict.property("kind") == "bad"


def test_without_a_file_manager_the_output_folder_path_is_shown(window, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QMessageBox

    folder = tmp_path / "protected"
    folder.mkdir()
    shown = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()))
    window.output_action.trigger()
    assert len(shown) == 1 and str(folder) in shown[0] and "No file manager" in shown[0]


def test_f1_opens_the_guide_with_the_readmes_limits(window, qtbot):
    window.guide_action.trigger()
    assert window.guide.isVisible()
    text = window.guide.browser.toPlainText()
    assert "What \"Protected\" means" in text and "held-out checks" in text
    assert "It targets the models it was made against" in text  # the README's section, offline
    assert "what a photo shows, and from that where you live" in text  # line breaks read as spaces
    assert window.guide_action.shortcut().toString() == "F1"


def elided_texts(panel) -> list[str]:
    """Texts in the settings panel that do not fit where they are shown."""
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QStyle, QStyleOptionComboBox

    cut = []
    for combo in panel.findChildren(QComboBox):
        if not combo.isVisibleTo(panel):
            continue
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                             QStyle.SubControl.SC_ComboBoxEditField, combo)
        cut += [combo.itemText(i) for i in range(combo.count())
                if combo.fontMetrics().horizontalAdvance(combo.itemText(i)) > field.width()]
    for label in panel.findChildren(QLabel):
        if not label.isVisibleTo(panel) or not label.text():
            continue
        if label.wordWrap() and label.heightForWidth(label.width()) > label.height():
            cut.append(label.text())
        elif not label.wordWrap() and label.sizeHint().width() > label.width():
            cut.append(label.text())
    cut += [box.text() for box in panel.findChildren(QCheckBox)
            if box.isVisibleTo(panel) and box.sizeHint().width() > box.width()]
    return cut


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_settings_fit_without_cutting_any_text(window, qtbot, size):
    window.resize(*size)
    window.reset_layout()
    qtbot.wait(100)
    panel = window.settings_panel
    for method in METHODS:  # every method's own controls too
        panel.method.setCurrentIndex(panel.method.findData(method))
        qtbot.wait(20)
        assert elided_texts(panel) == [], method
    # With the preset's fine-tuning folded away, the default method's settings need no scrolling
    # at 1280x720 (a tag method's list of the photo's tags may).
    panel.method.setCurrentIndex(panel.method.findData("cvpire"))
    qtbot.wait(20)
    assert window.settings_scroll.verticalScrollBar().maximum() == 0
    assert window.viewer.width() >= size[0] // 2 - 40  # the photo keeps about half the window's width
    assert window.viewer.height() >= (size[1] - 120) // 2 - 10  # and at least half the height below the bars
    # The queue's rows fill its width (their text elides) and never need a horizontal scroll bar.
    photo = Path(window.settings_panel.output_folder()).parent / "a-photo-with-a-rather-long-file-name.png"
    photo.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), "teal").save(photo)
    window.add_paths([photo])
    qtbot.wait(50)
    assert window.queue.visualRect(window.photos.index(0)).width() == window.queue.viewport().width()
    assert window.queue.horizontalScrollBar().maximum() == 0
    panel.output.setText("/home/someone/Pictures/a very long folder name/PixelGuard")
    assert panel.output.toolTip().startswith("/home/someone/Pictures/a very long folder name/PixelGuard")


def test_each_methods_fields_in_the_panel_are_its_declared_options(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    for name, method in METHODS.items():
        declared = {field.name for field in dataclass_fields(method.options_type)}
        assert set(panel.method_options[name].option_names) == declared, name


def test_settings_persist_between_runs(qtbot, tmp_path):
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = SettingsPanel()
    qtbot.addWidget(first)
    first.load(store)
    first.apply_preset("Strong")
    first.format.setCurrentIndex(first.format.findData("jpeg"))
    first.jpeg_quality.setValue(85)
    first.metadata.setCurrentIndex(first.metadata.findData("keep-safe"))
    first.method.setCurrentIndex(first.method.findData("labelfool"))
    first.method_options["labelfool"].privacy.setChecked(True)
    first.output.setText(str(tmp_path / "elsewhere"))
    first.overwrite.setChecked(True)
    first.save(store)
    store.sync()
    assert "jpeg_quality=85" in (tmp_path / "settings.ini").read_text()

    second = SettingsPanel()
    qtbot.addWidget(second)
    second.load(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    restored = second.settings()
    strong = PRESETS["Strong"]
    assert (restored.condition, restored.max_delta_e, restored.views, restored.max_iter, restored.model) == (
        strong["condition"], strong["max_delta_e"], strong["views"], strong["max_iter"], strong["model"])
    assert (restored.format, restored.jpeg_quality, restored.metadata) == ("jpeg", 85, "keep-safe")
    assert restored.method == "labelfool" and restored.privacy_target
    assert second.output_folder() == tmp_path / "elsewhere" and second.overwrite.isChecked()
    assert second.preset_name() == "Strong"


def test_the_app_never_writes_the_users_real_settings(window, tmp_path):
    window.close()
    assert (tmp_path / "settings.ini").exists()
    assert QSettings().fileName().startswith(str(tmp_path))


# -- the window without a model -----------------------------------------------------------------
def test_shortcuts_and_disabled_actions(window):
    shortcuts = {action.text(): [key.toString() for key in action.shortcuts()] for action in (
        window.open_action, window.folder_action, window.protect_action, window.protect_all_action,
        window.cancel_action)}
    assert shortcuts["Open Photos…"] == ["Ctrl+O"]
    assert shortcuts["Open Folder…"] == ["Ctrl+Shift+O"]
    assert "Ctrl+Return" in shortcuts["Protect Selected"] and "Ctrl+Enter" in shortcuts["Protect Selected"]
    assert shortcuts["Cancel"] == ["Esc"]
    # Nothing to protect or cancel yet.
    assert not window.protect_action.isEnabled() and not window.protect_all_action.isEnabled()
    assert not window.cancel_action.isEnabled() and not window.report_action.isEnabled()
    assert window.windowTitle() == "PixelGuard" and not window.windowIcon().isNull()


def test_folders_are_added_recursively_and_missing_files_reported(window, tmp_path):
    folder = tmp_path / "holiday"
    (folder / "day 2").mkdir(parents=True)
    for path in (folder / "a.png", folder / "day 2" / "b.jpg"):
        Image.new("RGB", (32, 24), "teal").save(path)
    (folder / "notes.txt").write_text("not a photo")
    assert window.add_paths([folder]) == 2
    assert [item.path.name for item in window.photos.items] == ["a.png", "b.jpg"]
    out = window.output_for(window.photos.item(1))
    assert out == tmp_path / "protected" / "day 2" / "b.jpg"  # sub-folders are kept
    assert window.add_paths([tmp_path / "missing.jpg"]) == 0
    assert "missing.jpg: no such file or folder" in window.statusBar().currentMessage()
    assert window.protect_all_action.isEnabled()


def test_existing_outputs_show_as_already_protected(window, tmp_path):
    photo = tmp_path / "a.png"
    Image.new("RGB", (32, 24), "teal").save(photo)
    window.add_paths([photo])
    assert window.photos.item(0).status is Status.WAITING
    (tmp_path / "protected").mkdir()
    Image.new("RGB", (32, 24), "teal").save(tmp_path / "protected" / "a.png")
    window.settings_panel.output_changed.emit()
    assert window.photos.item(0).status is Status.WAITING  # a file of that name is not a protection
    job = Job(photo, tmp_path / "protected" / "a.png")
    record = ProtectionRecord(input=str(photo), output=str(job.output), status="protected", verdict="Protected")
    Manifest(tmp_path / "protected").remember(job, record, window.settings_panel.settings())
    window.settings_panel.output_changed.emit()
    assert window.photos.item(0).status is Status.ALREADY_PROTECTED


def test_dropping_files_highlights_the_window_and_queues_them(window, tmp_path):
    photo = tmp_path / "dropped.png"
    Image.new("RGB", (32, 24), "teal").save(photo)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    position = QPointF(200, 200)
    enter = QDragEnterEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted() and window.drop_overlay.isVisible()
    drop = QDropEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert not window.drop_overlay.isVisible()
    assert [item.path for item in window.photos.items] == [photo]


def test_download_shows_a_progress_dialog_and_can_be_cancelled(window, qtbot, monkeypatch):
    import threading

    from pixelguard.gui import workers
    from pixelguard.models import DownloadCancelled

    started = threading.Event()

    def fake_download(name, progress, cancel):
        progress(1_000_000, 4_000_000)
        started.set()
        cancel.wait(10)
        raise DownloadCancelled(f"download of {name} cancelled")

    monkeypatch.setattr(workers, "models_to_download", lambda spec: [spec])
    monkeypatch.setattr(workers, "download_model", fake_download)
    window.runs.download("places365-resnet18")
    qtbot.waitUntil(lambda: started.is_set() and window.download_dialog is not None
                    and window.download_dialog.value() == 250, timeout=10_000)
    assert "1.0 MB of 4.0 MB" in window.download_dialog.labelText()
    cancel_button = window.download_dialog.findChild(QPushButton)
    assert cancel_button.text() == "Cancel"
    cancel_button.click()
    qtbot.waitUntil(lambda: not window.runs.downloading, timeout=10_000)
    assert window.download_dialog is None
    assert window.statusBar().currentMessage().startswith("Download cancelled")


def test_a_failed_download_says_so_and_the_model_stays_not_downloaded(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from pixelguard.errors import ModelUnavailableError
    from pixelguard.gui import workers

    def unreachable(name, progress, cancel):
        raise ModelUnavailableError(f"cannot reach the server for {name}: Name or service not known")

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append((title, text)))
    monkeypatch.setattr(workers, "models_to_download", lambda spec: [spec])
    monkeypatch.setattr(workers, "download_model", unreachable)
    window.runs.download("resnet18")
    qtbot.waitUntil(lambda: not window.runs.downloading, timeout=10_000)
    assert warnings == [("Download Failed", "resnet18 is not on this computer yet and could not be downloaded. "
                         "Connect to the internet and try again, or choose an installed model. (cannot reach the "
                         "server for resnet18: Name or service not known)")]
    message = window.statusBar().currentMessage()
    assert message.startswith("Download failed: resnet18 is not on this computer") and "ready" not in message.lower()
    assert window.download_dialog is None


def test_strong_preset_fetches_its_label_hierarchy_before_the_first_photo(window, qtbot, tmp_path,
                                                                         empty_cache, without_bundled_data,
                                                                         monkeypatch):
    """A pack the package does not ship (here: hidden) is fetched up front, with progress and cancel."""
    import threading

    from pixelguard.gui import workers
    from pixelguard.models import DownloadCancelled

    fetched, started = [], threading.Event()

    def fake_datapack(name, progress, cancel):
        fetched.append(name)
        progress(300_000, 600_000)
        started.set()
        cancel.wait(10)
        raise DownloadCancelled(f"download of {name} cancelled")

    monkeypatch.setattr(workers, "download_datapack", fake_datapack)
    photo = tmp_path / "a.png"
    Image.new("RGB", (32, 24), "teal").save(photo)
    window.add_paths([photo])
    window.settings_panel.apply_preset("Strong")
    window.protect_all()
    qtbot.waitUntil(lambda: started.is_set() and window.download_dialog is not None
                    and window.download_dialog.value() == 500, timeout=10_000)
    assert fetched == ["imagenet-class-paths"]
    assert "0.3 MB of 0.6 MB" in window.download_dialog.labelText()
    window.download_dialog.findChild(QPushButton).click()
    qtbot.waitUntil(lambda: not window.runs.protecting, timeout=10_000)
    assert window.photos.item(0).status is Status.WAITING
    assert not (tmp_path / "protected").exists()


# -- icon and entry points ----------------------------------------------------------------------
@pytest.mark.parametrize("size", icon.ICON_SIZES)
def test_icon_pngs_are_renderings_of_the_svg(qapp, size):
    shipped = QImage(str(icon.png_path(size))).convertToFormat(QImage.Format.Format_ARGB32)
    rendered = icon.render_png(size)
    assert shipped.size() == rendered.size()
    ours = np.frombuffer(shipped.constBits(), np.uint8).astype(int)
    fresh = np.frombuffer(rendered.constBits(), np.uint8).astype(int)
    assert np.abs(ours - fresh).mean() < 0.5  # regenerate with `python -m pixelguard.gui.icon`


def test_gui_command_reports_bad_input_without_a_traceback(tmp_path):
    for command in (["pixelguard.cli", "gui"], ["pixelguard.gui"]):
        result = subprocess.run([sys.executable, "-c", f"import sys, runpy; sys.argv = ['x', '{tmp_path}/nope.jpg'];"
                                 f"from {command[0]} import main; raise SystemExit(main({command[1:] + [str(tmp_path / 'nope.jpg')]!r}))"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1  # as for any photo that cannot be used
        assert "nope.jpg: no such file or folder" in result.stderr
        assert "Traceback" not in result.stderr


def test_resources_are_package_data():
    assert icon.svg_path().read_text().lstrip().startswith("<?xml")
    assert Path(icon.resources_dir()).name == "resources"


def test_model_list_arrives_in_the_background_with_download_status(window, qtbot):
    panel = window.settings_panel
    qtbot.waitUntil(lambda: panel.models_listed, timeout=30_000)
    names = [panel.model.itemData(index) for index in range(panel.model.count())]
    assert names[0] == "efficientnet-lite0" and "places365-resnet18" in names
    places = names.index("places365-resnet18")
    assert panel.model.itemText(0) == "efficientnet-lite0"  # installed: no download to mention
    assert panel.model.itemText(places) == "places365-resnet18  (download, 46 MB)"  # 45.5 MB
    assert panel.model_status.text().startswith("Installed with PixelGuard")
    assert not panel.download_button.isVisibleTo(panel)
    panel.model.setCurrentIndex(places)  # the test cache is empty
    assert panel.model_status.text().startswith("Not downloaded yet")
    assert panel.download_button.isVisibleTo(panel)


def test_refuses_an_output_folder_that_would_replace_the_originals(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    photo = tmp_path / "a.png"
    Image.new("RGB", (32, 24), "teal").save(photo)
    window.settings_panel.output.setText(str(tmp_path))
    window.add_paths([photo])
    assert window.photos.item(0).status is Status.WAITING  # its own file is not a protected copy
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    window.protect_all()
    assert not window.runs.protecting and "would replace the original" in warnings[0]


def test_budget_choice_enables_the_matching_size_and_reaches_the_settings(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.apply_preset("Balanced")
    assert panel.max_delta_e.isEnabled() and not panel.strength.isEnabled() and panel.robust.isChecked()
    panel.budget.setCurrentIndex(panel.budget.findData("rgb"))
    assert panel.strength.isEnabled() and not panel.max_delta_e.isEnabled()
    assert panel.preset_name() == "Custom"
    panel.robust.setChecked(False)
    panel.max_delta_e.setValue(2.5)
    settings = panel.settings()
    assert (settings.budget, settings.views, settings.max_delta_e) == ("rgb", "model", 2.5)
    panel.apply_preset("Fast")
    assert panel.settings().views == "model" and panel.settings().budget == "rgb"
    panel.apply_preset("Strong")
    assert panel.settings().model == "efficientnet-lite0,efficientnet-lite1"
    assert "together" in panel.model.currentText()
