"""The real window on real photos with the real default model, driven as a user would."""

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from skimage.metrics import structural_similarity

from pixelguard import imageio
from pixelguard.gui.photo_queue import Status
from pixelguard.models import load_model
from pixelguard.protect import top_k

pytestmark = pytest.mark.slow

TIMEOUT_MS = 120_000


def statuses(window):
    return [item.status for item in window.photos.items]


def test_protect_a_photo_and_show_the_proof_read_from_the_saved_file(window, qtbot, small_photos, tmp_path, empty_cache,
                                                                      no_network):
    # A first run offline: empty cache, no network, the default model protects all the same.
    source = small_photos / "grace_hopper.png"
    assert window.add_paths([source]) == 1
    assert statuses(window) == [Status.WAITING]
    # Before protecting: the threshold map and the classifier's reading are shown.
    qtbot.waitUntil(lambda: window.viewer.heat_map.first is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(window.predictions.before.labels()) == 5, timeout=TIMEOUT_MS)
    model = load_model("efficientnet-lite0")
    original = imageio.load_image(source).rgb
    clean = top_k(model(imageio.rgb_to_tensor(original))[0], model.labels)
    assert window.predictions.before.labels() == [label for label, _ in clean]
    assert window.predictions.before.highlight == clean[0][0]
    assert not window.predictions.after.labels()

    window.queue.selectAll()
    assert window.protect_action.isEnabled()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.queue, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.cancel_action.isEnabled() and not window.protect_all_action.isEnabled()
    qtbot.waitUntil(lambda: not window.runs.protecting, timeout=TIMEOUT_MS)

    assert statuses(window) == [Status.PROTECTED]
    saved = tmp_path / "protected" / "grace_hopper.png"
    assert saved.exists()
    protected = imageio.load_image(saved).rgb
    assert protected.shape == original.shape and not np.array_equal(protected, original)
    # "After" is what the model reads from the saved file, measured here independently.
    after = top_k(model(imageio.rgb_to_tensor(protected))[0], model.labels)
    assert window.predictions.after.labels() == [label for label, _ in after]
    assert clean[0][0] not in window.predictions.after.labels()
    assert window.predictions.verdict.text() == (f"Protected: none of the top 5 predictions is related to "
                                                 f"'{clean[0][0]}', on all 5 checks: its own pipeline and 4 held-out ones")
    assert window.predictions.panel.text().count("✔ held") == 4
    expected_ssim = structural_similarity(original, protected, channel_axis=-1, data_range=255)
    assert window.predictions.figure_text("ssim") == f"{expected_ssim:.4f}"
    # The compare view and the amplified change come from the saved file too.
    qtbot.waitUntil(lambda: window.viewer.change.first is not None, timeout=TIMEOUT_MS)
    assert window.viewer.compare.protected.size() == window.viewer.compare.original.size()
    assert "amplified ×" in window.viewer.change_caption.text()
    assert "1 protected" in window.statusBar().currentMessage()


def test_cancel_keeps_finished_photos_and_the_window_responds(window, qtbot, small_photos, tmp_path):
    assert window.add_paths([small_photos]) == 3
    finished = []

    def cancel_after_first(row, record):
        finished.append(record)
        window.cancel()

    window.protect_all()
    window.runs.protect_worker.photo_finished.connect(cancel_after_first)
    qtbot.waitUntil(lambda: not window.runs.protecting, timeout=TIMEOUT_MS)

    # Whether a photo is protected is the panel's verdict; only a protected one is written.
    assert len(finished) == 1 and finished[0].status in ("protected", "failed")
    protected_first = finished[0].status == "protected"
    assert statuses(window).count(Status.PROTECTED) + statuses(window).count(Status.NOT_PROTECTED) == 1
    assert statuses(window).count(Status.WAITING) == 2
    written = sorted(path.name for path in (tmp_path / "protected").iterdir() if not path.name.startswith("."))
    assert written == ([Path(finished[0].output).name] if protected_first else [])
    # Every row, the header, the verdict and the status bar say what is on disk.
    message = window.statusBar().currentMessage()
    outcome = "1 protected" if protected_first else "1 not protected"
    assert message.startswith(f"Cancelled. {outcome}; 2 not protected yet."), message
    assert (f"Protected copies are in {tmp_path / 'protected'}" in message) == protected_first
    assert ("· 1 protected" in window.queue_title.text()) == protected_first
    window.queue.setCurrentIndex(window.photos.index(1))
    assert "Protecting now" not in window.predictions.verdict.text()
    # Still responsive: the others can be protected now; a protected one is kept, not redone.
    assert window.protect_all_action.isEnabled() and not window.cancel_action.isEnabled()
    window.protect_all()
    qtbot.waitUntil(lambda: not window.runs.protecting, timeout=TIMEOUT_MS)
    assert statuses(window).count(Status.ALREADY_PROTECTED) == int(protected_first)
    assert statuses(window).count(Status.PROTECTED) + statuses(window).count(Status.NOT_PROTECTED) == \
        3 - int(protected_first)
    records = [item.record for item in window.photos.items]
    visible = sorted(path.name for path in (tmp_path / "protected").iterdir() if not path.name.startswith("."))
    assert visible == sorted(Path(record.output).name for record in records if record.status == "protected")


def test_closing_while_protecting_asks_then_cancels_and_waits(qtbot, qtlog, settings_store, small_photos, tmp_path,
                                                              monkeypatch):
    from pixelguard.gui.window import MainWindow

    window = MainWindow(settings_store)
    qtbot.addWidget(window)
    window.settings_panel.output.setText(str(tmp_path / "protected"))
    window.settings_panel.strength.setValue(1)  # too weak to succeed: it would run all iterations
    window.settings_panel.iterations.setValue(5000)
    window.add_paths([small_photos / "owl.png"])
    window.protect_all()
    thread = window.runs.protect_thread
    qtbot.waitUntil(lambda: window.runs.batch.current > 0, timeout=TIMEOUT_MS)
    answers = [False, True]
    monkeypatch.setattr(window, "_confirm_stop", lambda: answers.pop(0))
    window.close()  # "No": it goes on
    assert window.runs.protecting and not thread.isFinished()
    window.close()  # "Yes"
    assert thread.isFinished()
    assert not window.preview_thread.isRunning()
    assert not [record for record in qtlog.records if "setParent" in record.message]


def test_tag_methods_show_the_photos_tags_as_check_boxes(window, qtbot, small_photos):
    panel = window.settings_panel
    window.add_paths([small_photos / "owl.png"])
    panel.method.setCurrentIndex(panel.method.findData("tkmia"))
    tags = panel.method_options["tkmia"]
    qtbot.waitUntil(lambda: len(tags.boxes) == 5, timeout=TIMEOUT_MS)
    assert tags.boxes[0].property("tag") == window.photos.item(0).before[0][0]
    assert tags.choice.text() == "None ticked: the photo's top tag will be hidden."
    tags.boxes[1].setChecked(True)
    chosen = tags.boxes[1].property("tag")
    assert panel.settings().hide == (chosen,) and tags.choice.text() == f"To hide: {chosen}."
    # Listing the photo's tags again (after a run, another k) keeps the tick.
    tags.set_tags([type("Tag", (), {"label": box.property("tag"), "score": 0.1})() for box in tags.boxes])
    assert panel.settings().hide == (chosen,)

