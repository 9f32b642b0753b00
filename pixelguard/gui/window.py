"""The PixelGuard main window: queue, viewer, predictions and settings."""

from __future__ import annotations

import functools
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QThread
from PySide6.QtGui import QAction, QImageReader, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
    QProgressBar, QProgressDialog, QPushButton, QScrollArea, QSplitter, QTabWidget, QToolBar,
    QVBoxLayout, QWidget,
)

from pixelguard import __version__, imageio
from pixelguard.errors import PixelGuardError
from pixelguard.gui.icon import application_icon
from pixelguard.gui.panels import PredictionsPanel, SettingsPanel, TagOptions
from pixelguard.gui.viewer import ImageView, LegendBar, pixmap_from_rgb
from pixelguard.gui.worker import ProtectWorker, run_in_background
from pixelguard.models import load_model
from pixelguard.preview import amplified_difference, threshold_heat_map
from pixelguard.protect import Job
from pixelguard.tagging import current_tags
from pixelguard.threshold import heat_map_legend

THUMBNAIL = QSize(64, 48)
PATH_ROLE = Qt.ItemDataRole.UserRole
BASE_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
RECORD_ROLE = Qt.ItemDataRole.UserRole + 3
LICENCE = "Apache-2.0"


@functools.lru_cache(maxsize=2)
def cached_model(name: str, device: str):
    """One loaded model per (name, device) for previews such as the tag list."""
    return load_model(name, device=device)


class MainWindow(QMainWindow):
    def __init__(self, settings_store: QSettings | None = None):
        super().__init__()
        self.store = settings_store or QSettings()
        self.setWindowTitle("PixelGuard")
        self.setWindowIcon(application_icon())
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self.thread: QThread | None = None
        self.worker: ProtectWorker | None = None
        self.download_dialog: QProgressDialog | None = None
        self._run_started = 0.0
        self._run_done = 0
        self._run_total = 0
        self._tasks = []  # keep background tasks alive until they report

        self.queue = QListWidget()
        self.queue.setIconSize(THUMBNAIL)
        self.queue.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.queue.currentItemChanged.connect(lambda *_: self.show_selected())
        self.queue.setMinimumWidth(220)

        self.compare = ImageView()
        self.compare.placeholder = "Open photos (Ctrl+O) or drop them here"
        self.heat_map = ImageView()
        self.heat_map.placeholder = "The threshold map appears when a photo is selected"
        self.perturbation = ImageView()
        self.perturbation.placeholder = "The change appears after protecting"
        self.perturbation_note = QLabel("")
        self.tabs = QTabWidget()
        self.tabs.addTab(self._compare_tab(), "Compare")
        self.tabs.addTab(self._heat_map_tab(), "Threshold map")
        self.tabs.addTab(self._perturbation_tab(), "Perturbation")
        self.predictions = PredictionsPanel()

        self.settings_panel = SettingsPanel()
        self.settings_panel.load(self.store, str(Path.home() / "PixelGuard protected"))
        self.settings_panel.method_changed.connect(lambda *_: self.refresh_tags())
        scroll = QScrollArea()
        scroll.setWidget(self.settings_panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.tabs)
        centre.addWidget(self.predictions)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 1)
        splitter = QSplitter()
        splitter.addWidget(self.queue)
        splitter.addWidget(centre)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 700, 340])
        self.setCentralWidget(splitter)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.eta = QLabel("")
        self.statusBar().addPermanentWidget(self.eta)
        self.statusBar().addPermanentWidget(self.progress)
        self._make_actions()
        self.update_actions()
        self.statusBar().showMessage("Open photos to protect them. Nothing leaves this computer.")

    # -- layout pieces -------------------------------------------------------------------
    def _compare_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        controls = QHBoxLayout()
        self.flicker_button = QPushButton("Flicker")
        self.flicker_button.setCheckable(True)
        self.flicker_button.setToolTip("Alternate original and protected twice a second")
        self.flicker_button.toggled.connect(self.compare.set_flicker)
        self.zoom_button = QPushButton("100 %")
        self.zoom_button.setCheckable(True)
        self.zoom_button.setToolTip("Show actual pixels (drag to pan); artefacts hide when the photo is shrunk to fit")
        self.zoom_button.toggled.connect(self._set_zoom)
        controls.addWidget(QLabel("Drag the line to compare original (left) and protected (right)."))
        controls.addStretch(1)
        controls.addWidget(self.flicker_button)
        controls.addWidget(self.zoom_button)
        layout.addLayout(controls)
        layout.addWidget(self.compare, 1)
        return tab

    def _heat_map_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        note = QLabel("Where the photo may change: bright = busy texture (more change allowed), "
                      "dark = flat areas (little or none).")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(self.heat_map, 1)
        layout.addWidget(LegendBar(heat_map_legend(9), "flat: no change", "busiest: full strength"))
        return tab

    def _perturbation_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.perturbation_note)
        layout.addWidget(self.perturbation, 1)
        return tab

    def _set_zoom(self, actual: bool) -> None:
        for view in (self.compare, self.heat_map, self.perturbation):
            view.set_actual_size(actual)

    def _make_actions(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(toolbar)

        def action(text: str, shortcut, slot, tip: str) -> QAction:
            item = QAction(text, self)
            if shortcut:
                item.setShortcut(QKeySequence(shortcut))
            item.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut else tip)
            item.triggered.connect(slot)
            toolbar.addAction(item)
            return item

        self.open_action = action("Open photos…", "Ctrl+O", self.open_files, "Add photos to the queue")
        self.folder_action = action("Open folder…", "Ctrl+Shift+O", self.open_folder, "Add every photo in a folder and its sub-folders")
        toolbar.addSeparator()
        self.protect_action = action("Protect selected", "Ctrl+Return", self.protect_selected, "Protect the selected photos")
        self.protect_all_action = action("Protect all", "Ctrl+Shift+Return", self.protect_all, "Protect every photo in the queue")
        self.cancel_action = action("Cancel", "Esc", self.cancel, "Stop after the current step; finished photos stay saved")
        toolbar.addSeparator()
        self.clear_action = action("Clear queue", None, self.clear_queue, "Remove all photos from the queue (files are not touched)")
        self.about_action = action("About", None, self.about, "Version and licence")

    def update_actions(self) -> None:
        running = self.thread is not None
        has_photos = self.queue.count() > 0
        self.protect_action.setEnabled(not running and bool(self.queue.selectedItems()))
        self.protect_all_action.setEnabled(not running and has_photos)
        self.cancel_action.setEnabled(running)
        self.clear_action.setEnabled(not running and has_photos)
        self.open_action.setEnabled(not running)
        self.folder_action.setEnabled(not running)

    # -- the queue -----------------------------------------------------------------------
    def add_paths(self, paths: list[str | Path]) -> int:
        """Add photos and folders (recursively); returns how many photos were added."""
        known = {self.queue.item(i).data(PATH_ROLE) for i in range(self.queue.count())}
        added = 0
        try:
            found = list(imageio.iter_images(paths, recursive=True))
        except PixelGuardError as error:
            self.statusBar().showMessage(str(error))
            return 0
        for path, base in found:
            if str(path) in known:
                continue
            item = QListWidgetItem()
            item.setData(PATH_ROLE, str(path))
            item.setData(BASE_ROLE, str(base) if base else "")
            reader = QImageReader(str(path))
            size = reader.size()
            reader.setAutoTransform(True)
            if size.isValid():
                reader.setScaledSize(size.scaled(THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio))
            thumbnail = reader.read()
            if not thumbnail.isNull():
                item.setIcon(QPixmap.fromImage(thumbnail))
            item.setData(Qt.ItemDataRole.UserRole + 4, f"{size.width()}×{size.height()}" if size.isValid() else "")
            self.queue.addItem(item)
            status = "already protected" if self.output_for(item).exists() else "waiting"
            self.set_status(item, status)
            added += 1
        if added and self.queue.currentItem() is None:
            self.queue.setCurrentRow(0)
        self.statusBar().showMessage(f"{added} photo(s) added; {self.queue.count()} in the queue.")
        self.update_actions()
        return added

    def set_status(self, item: QListWidgetItem, status: str, detail: str = "") -> None:
        item.setData(STATUS_ROLE, status)
        size = item.data(Qt.ItemDataRole.UserRole + 4)
        text = f"{Path(item.data(PATH_ROLE)).name}\n{size} · {status}"
        item.setText(text)
        item.setToolTip(detail or status)

    def output_for(self, item: QListWidgetItem) -> Path:
        base = item.data(BASE_ROLE) or None
        settings = self.settings_panel.settings()
        return imageio.output_path_for(Path(item.data(PATH_ROLE)), Path(self.settings_panel.output.text()),
                                       settings.format, relative_to=Path(base) if base else None)

    def open_files(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in sorted(imageio.IMAGE_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(self, "Open photos", "", f"Photos ({patterns});;All files (*)")
        if files:
            self.add_paths(files)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos")
        if folder:
            self.add_paths([folder])

    def clear_queue(self) -> None:
        self.queue.clear()
        self.show_selected()
        self.update_actions()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls() and self.thread is None:
            event.acceptProposedAction()
            self.statusBar().showMessage("Drop to add these photos")

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        self.add_paths(paths)

    # -- the selected photo --------------------------------------------------------------
    def show_selected(self) -> None:
        item = self.queue.currentItem()
        self.update_actions()
        if item is None:
            for view in (self.compare, self.heat_map, self.perturbation):
                view.set_pictures(None)
            self.predictions.show_record(None)
            return
        path = item.data(PATH_ROLE)
        record = item.data(RECORD_ROLE)
        self.predictions.show_record(record)
        output = Path(record["output"]) if record and record.get("output") else None
        self._background(lambda: self._load_views(path, output), lambda result: self._show_views(path, result))
        self.refresh_tags()

    @staticmethod
    def _load_views(path: str, output: Path | None) -> dict:
        original = imageio.load_image(path).rgb
        views = {"original": original, "heat_map": threshold_heat_map(original)}
        if output is not None and output.exists():
            protected = imageio.load_image(output).rgb
            views["protected"] = protected
            views["difference"] = amplified_difference(original, protected)
        return views

    def _show_views(self, path: str, views: dict) -> None:
        item = self.queue.currentItem()
        if item is None or item.data(PATH_ROLE) != path:
            return  # the selection moved on
        original = pixmap_from_rgb(views["original"])
        protected = pixmap_from_rgb(views["protected"]) if "protected" in views else None
        self.compare.set_pictures(original, protected)
        self.heat_map.set_pictures(pixmap_from_rgb(views["heat_map"]))
        if "difference" in views:
            picture, factor = views["difference"]
            self.perturbation.set_pictures(pixmap_from_rgb(picture))
            self.perturbation_note.setText(f"The change, amplified ×{factor} around mid-grey (grey = unchanged).")
        else:
            self.perturbation.set_pictures(None, placeholder="The change appears after protecting")
            self.perturbation_note.setText("")

    def refresh_tags(self) -> None:
        """For tag-hiding methods: the selected photo's current tags as check boxes."""
        settings = self.settings_panel.settings()
        options = self.settings_panel.method_options.get(settings.method)
        item = self.queue.currentItem()
        if not isinstance(options, TagOptions) or item is None:
            return
        path = item.data(PATH_ROLE)

        def tags():
            model = cached_model(settings.model, "cpu")
            image = imageio.rgb_to_tensor(imageio.load_image(path).rgb)
            return [(tag.label, tag.score) for tag in current_tags(model, image, k=settings.k)]

        def show(result):
            current = self.queue.currentItem()
            if current is not None and current.data(PATH_ROLE) == path:
                options.set_tags(result)

        self._background(tags, show)

    def _background(self, function, on_done) -> None:
        task = run_in_background(function, on_done, lambda message: self.statusBar().showMessage(message))
        self._tasks.append(task)
        task.signals.done.connect(lambda *_: self._tasks.remove(task) if task in self._tasks else None)
        task.signals.failed.connect(lambda *_: self._tasks.remove(task) if task in self._tasks else None)

    # -- protecting ----------------------------------------------------------------------
    def protect_selected(self) -> None:
        self._protect(self.queue.selectedItems())

    def protect_all(self) -> None:
        self._protect([self.queue.item(i) for i in range(self.queue.count())])

    def _protect(self, items: list[QListWidgetItem]) -> None:
        if self.thread is not None or not items:
            return
        settings = self.settings_panel.settings()
        try:
            settings.validate()
        except PixelGuardError as error:
            QMessageBox.warning(self, "PixelGuard", str(error))
            return
        self.settings_panel.save(self.store)
        jobs = [(self.queue.row(item), Job(Path(item.data(PATH_ROLE)), self.output_for(item))) for item in items]
        for _, job in jobs:
            self.set_status(self.queue.item(_), "waiting")
        self.worker = ProtectWorker(jobs, settings)
        self.thread = QThread(self)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.photo_started.connect(self._photo_started)
        self.worker.iteration.connect(self._iteration)
        self.worker.photo_finished.connect(self._photo_finished)
        self.worker.download_progress.connect(self._download_progress)
        self.worker.failed.connect(self._run_failed)
        self.worker.finished.connect(self._run_finished)
        self._run_started, self._run_done, self._run_total = time.monotonic(), 0, len(jobs)
        self.progress.setRange(0, len(jobs) * settings.max_iter)
        self.progress.setValue(0)
        self.progress.show()
        self.eta.setText("starting…")
        self.thread.start()
        self.update_actions()

    def _photo_started(self, row: int) -> None:
        self._current_row = row
        item = self.queue.item(row)
        self.set_status(item, "running")
        self.statusBar().showMessage(f"Protecting {Path(item.data(PATH_ROLE)).name}…")

    def _iteration(self, iteration: int, total: int) -> None:
        self.progress.setValue(self._run_done * self.worker.settings.max_iter + min(iteration, total))

    def _photo_finished(self, row: int, record: dict) -> None:
        item = self.queue.item(row)
        item.setData(RECORD_ROLE, record)
        status = {"protected": "protected", "failed": "not protected", "skipped": "already protected"}.get(
            record.get("status"), "failed")
        self.set_status(item, status, record.get("error") or record.get("verdict", ""))
        self._run_done += 1
        self.progress.setValue(self._run_done * self.worker.settings.max_iter)
        elapsed = time.monotonic() - self._run_started
        remaining = self._run_total - self._run_done
        self.eta.setText(f"{self._run_done}/{self._run_total} done" +
                         (f", about {elapsed / self._run_done * remaining:.0f} s left" if remaining else ""))
        if self.queue.currentItem() is item:
            self.show_selected()

    def _download_progress(self, done: int, total: int) -> None:
        if self.download_dialog is None:
            self.download_dialog = QProgressDialog("Downloading the model…", "Cancel", 0, 100, self)
            self.download_dialog.setWindowTitle("PixelGuard")
            self.download_dialog.canceled.connect(self.cancel)
        self.download_dialog.setMaximum(total or 0)
        self.download_dialog.setValue(done if total else 0)
        self.download_dialog.setLabelText(f"Downloading the model… {done / 1e6:.1f} MB"
                                          + (f" of {total / 1e6:.1f} MB" if total else ""))

    def _run_failed(self, message: str) -> None:
        self.statusBar().showMessage(message)
        QMessageBox.warning(self, "PixelGuard", message)

    def _run_finished(self) -> None:
        cancelled = self.worker is not None and self.worker.cancelled
        for row in range(self.queue.count()):
            item = self.queue.item(row)
            if item.data(STATUS_ROLE) in ("running", "waiting") and item.data(RECORD_ROLE) is None:
                self.set_status(item, "waiting")
        if self.download_dialog is not None:
            self.download_dialog.close()
            self.download_dialog = None
        self.thread.quit()
        self.thread.wait()
        self.thread, self.worker = None, None
        self.progress.hide()
        self.eta.setText("")
        done = f"{self._run_done} of {self._run_total} photo(s) done"
        self.statusBar().showMessage(f"Cancelled: {done}; finished photos are saved." if cancelled else
                                     f"Finished: {done}. Saved in {self.settings_panel.output.text()}")
        self.update_actions()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.statusBar().showMessage("Cancelling…")

    # -- window --------------------------------------------------------------------------
    def about(self) -> None:
        QMessageBox.about(
            self, "About PixelGuard",
            f"<h3>PixelGuard {__version__}</h3>"
            "<p>Invisible, per-pixel changes that keep image classifiers from reading your photos, "
            "with proof measured on the saved files. Everything runs on this computer.</p>"
            f"<p>Licence: {LICENCE}. Default model: EfficientNet-Lite0 (Apache-2.0).</p>",
        )

    def closeEvent(self, event) -> None:  # noqa: N802
        self.settings_panel.save(self.store)
        if self.thread is not None:
            self.worker.cancel()
            self.thread.quit()
            self.thread.wait()
        event.accept()
