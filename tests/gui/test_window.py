"""The real window, driven as a user would: open, protect, inspect, cancel, settings persist."""

from pathlib import Path

import pytest

from pixelguard import imageio
from pixelguard.gui.window import PATH_ROLE, RECORD_ROLE, STATUS_ROLE, MainWindow

pytestmark = pytest.mark.slow


def statuses(window):
    return [window.queue.item(i).data(STATUS_ROLE) for i in range(window.queue.count())]


def test_protect_a_real_photo_and_show_the_proof(window, qtbot, small_photos, tmp_path):
    assert window.add_paths([small_photos / "grace_hopper.png"]) == 1
    assert statuses(window) == ["waiting"]
    qtbot.waitUntil(lambda: window.heat_map.left is not None, timeout=20000)  # map before protecting
    window.queue.setCurrentRow(0)
    window.queue.item(0).setSelected(True)
    assert window.protect_action.isEnabled()
    window.protect_selected()
    assert window.cancel_action.isEnabled() and not window.protect_all_action.isEnabled()
    qtbot.waitUntil(lambda: window.thread is None, timeout=120000)
    assert statuses(window) == ["protected"]
    record = window.queue.item(0).data(RECORD_ROLE)
    saved = Path(record["output"])
    assert saved == tmp_path / "protected" / "grace_hopper.png" and saved.exists()
    # What is shown is what the saved file says.
    assert window.predictions.verdict.text().startswith("Protected:")
    before_labels = [label.text() for label, _ in window.predictions.before[1]]
    after_labels = [label.text() for label, _ in window.predictions.after[1]]
    assert f"<b><u>{record['label']}</u></b>" == before_labels[0]
    assert [name for name, _ in record["after"]] == after_labels
    assert f"SSIM {record['ssim']:.4f}" in window.predictions.figures.text()
    qtbot.waitUntil(lambda: window.compare.right is not None, timeout=20000)
    assert window.perturbation.left is not None and "amplified ×" in window.perturbation_note.text()
    original = imageio.load_image(small_photos / "grace_hopper.png")
    assert imageio.load_image(saved).rgb.shape == original.rgb.shape


def test_cancel_keeps_finished_photos_and_the_window_responds(window, qtbot, small_photos, tmp_path):
    window.add_paths([small_photos])
    assert window.queue.count() == 3
    finished = []
    window.settings_panel.iterations.setValue(400)
    window.settings_panel.strength.setValue(2)  # too weak to succeed quickly: photos run long
    window.protect_all()
    window.worker.photo_finished.connect(lambda row, record: finished.append(row))
    qtbot.waitUntil(lambda: window.worker is None or len(finished) >= 1 or window.progress.value() > 5,
                    timeout=120000)
    window.cancel()
    qtbot.waitUntil(lambda: window.thread is None, timeout=60000)
    assert "Cancelled" in window.statusBar().currentMessage()
    for row in finished:
        assert Path(window.queue.item(row).data(RECORD_ROLE)["output"]).exists()
    assert "running" not in statuses(window)
    # Still responsive: a new photo can be queued and selected.
    window.queue.setCurrentRow(1)
    assert window.queue.currentItem().data(PATH_ROLE).endswith(".png")
    assert window.protect_all_action.isEnabled()


def test_settings_and_presets_persist(qtbot, settings_store, tmp_path):
    first = MainWindow(settings_store)
    qtbot.addWidget(first)
    panel = first.settings_panel
    panel.preset.setCurrentText("Strong")
    assert panel.strength.value() == 40 and panel.condition.currentData() == "semantic"
    panel.format.setCurrentText("jpeg")
    panel.jpeg_quality.setValue(85)
    panel.output.setText(str(tmp_path / "elsewhere"))
    first.close()
    settings_store.sync()
    second = MainWindow(settings_store)
    qtbot.addWidget(second)
    restored = second.settings_panel.settings()
    assert restored.strength == 40 and restored.condition == "semantic"
    assert restored.format == "jpeg" and restored.jpeg_quality == 85
    assert second.settings_panel.output.text() == str(tmp_path / "elsewhere")
    assert second.settings_panel.preset.currentText() == "Strong"
    second.settings_panel.strength.setValue(30)
    assert second.settings_panel.preset.currentText() == "Custom"


def test_method_options_and_tags(window, qtbot, small_photos):
    panel = window.settings_panel
    panel.method.setCurrentIndex(panel.method.findData("labelfool"))
    assert panel.options_stack.currentWidget() is panel.method_options["labelfool"]
    panel.method_options["labelfool"].target.setText("tiger cat")
    assert panel.settings().target == "tiger cat"
    window.add_paths([small_photos / "owl.png"])
    panel.method.setCurrentIndex(panel.method.findData("tkmia"))
    tags = panel.method_options["tkmia"]
    qtbot.waitUntil(lambda: len(tags.boxes) == 5, timeout=30000)
    tags.boxes[0].setChecked(True)
    assert panel.settings().hide == (tags.boxes[0].property("tag"),)


def test_bad_files_are_reported_not_crashing(window, tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    assert window.add_paths([tmp_path / "missing.jpg"]) in (0, 1)
    assert window.add_paths([tmp_path / "notes.txt"]) in (0, 1)
    assert window.isVisible()


def test_cli_gui_command_is_registered():
    from pixelguard.cli import build_parser

    args = build_parser().parse_args(["gui", "a.jpg"])
    assert args.paths == ["a.jpg"]
