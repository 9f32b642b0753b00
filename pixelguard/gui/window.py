"""The PixelGuard main window: queue | viewer and predictions | settings, with menus and toolbar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QThread, QThreadPool, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QFileDialog, QLabel, QListView, QMainWindow, QMenu, QMessageBox, QProgressBar,
    QScrollArea, QSplitter, QStackedWidget, QStyle, QToolBar, QVBoxLayout, QWidget,
)

from pixelguard import __version__, imageio
from pixelguard.errors import PixelGuardError
from pixelguard.gui.dialogs import PROGRESS_STEPS, DownloadDialog, ask_about_existing, confirm_stop, reveal
from pixelguard.gui.guide import GuideDialog
from pixelguard.gui.icon import application_icon
from pixelguard.gui.photo_queue import PhotoDelegate, PhotoItem, PhotoQueueModel, Status
from pixelguard.gui.predictions import PredictionsPanel
from pixelguard.gui.settings_panel import SettingsPanel
from pixelguard.gui.viewer import ViewerTabs, ZOOM_STEP
from pixelguard.gui.run_controller import RunController
from pixelguard.gui.workers import BackgroundCall, ModelCache, PreviewRequest, PreviewWorker
from pixelguard.models import list_models
from pixelguard.batch import Job, Manifest, checked_jobs
from pixelguard.protect import Outcome, ProtectionRecord
from pixelguard.report import write_report

LICENCE = "Apache-2.0"


class DropOverlay(QWidget):
    """Shown over the window while files are dragged onto it."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        label = QLabel("Drop photos or folders to add them to the queue")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("QLabel { background: rgba(37, 99, 235, 40); border: 3px dashed #2563eb; "
                            "border-radius: 12px; color: #1e3a8a; font-size: 18pt; font-weight: bold; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.addWidget(label)
        self.hide()

    def cover(self) -> None:
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()


class MainWindow(QMainWindow):
    preview_requested = Signal(object)  # PreviewRequest, to the preview thread

    def __init__(self, store: QSettings | None = None):
        super().__init__()
        self.store = store if store is not None else QSettings()
        self.setWindowTitle("PixelGuard")
        self.setWindowIcon(application_icon())
        self.setAcceptDrops(True)
        self.models = ModelCache()
        self.runs = RunController(self.models, self)
        self.download_dialog: DownloadDialog | None = None
        self.guide: GuideDialog | None = None
        self.generation = 0

        self.photos = PhotoQueueModel(self)
        self.queue = QListView()
        self.queue.setModel(self.photos)
        self.queue.setItemDelegate(PhotoDelegate(self.queue))
        self.queue.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.queue.setUniformItemSizes(True)
        # Rows elide their text to the column's width: a horizontal scroll bar would only hide the last row.
        self.queue.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.queue.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.queue.customContextMenuRequested.connect(self._queue_menu)
        self.queue.selectionModel().currentChanged.connect(lambda *_: self.show_current())
        self.photos.unusable.connect(lambda row: self.show_current() if row == self.queue.currentIndex().row() else None)
        self.queue.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.viewer = ViewerTabs()
        self.predictions = PredictionsPanel()
        self.settings_panel = SettingsPanel()
        self.settings_panel.load(self.store)

        self._build_layout()
        self._build_actions()
        self._build_status_bar()
        self._start_preview_thread()
        self.settings_panel.preview_settings_changed.connect(self._model_or_device_changed)
        self.settings_panel.strength_changed.connect(self.viewer.legend.set_strength)
        self.settings_panel.method_changed.connect(lambda *_: self.show_current())
        self.settings_panel.output_changed.connect(self.refresh_existing_outputs)
        self.settings_panel.download_requested.connect(self.runs.download)
        self._connect_runs()
        self.settings_panel.tags_changed.connect(self.show_current)
        self.viewer.legend.set_strength(self.settings_panel.strength_levels())
        self._model_listing = BackgroundCall(list_models, self.settings_panel.set_models)
        self._restore_layout()
        self.update_actions()
        self.statusBar().showMessage("Open photos to protect them. Nothing leaves this computer.")

    # -- layout -------------------------------------------------------------------------
    def _build_layout(self) -> None:
        empty = QLabel("No photos yet.\n\nOpen photos (Ctrl+O) or a folder (Ctrl+Shift+O), or drop them here.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.queue_stack = QStackedWidget()
        self.queue_stack.addWidget(empty)
        self.queue_stack.addWidget(self.queue)
        self.queue_title = QLabel()
        queue_panel = QWidget()
        queue_layout = QVBoxLayout(queue_panel)
        queue_layout.setContentsMargins(6, 6, 0, 0)
        queue_layout.addWidget(self.queue_title)
        queue_layout.addWidget(self.queue_stack, 1)
        self._update_queue_title()

        self.settings_scroll = settings_scroll = QScrollArea()
        settings_scroll.setWidget(self.settings_panel)
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        settings_scroll.setMinimumWidth(300)
        settings_scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        predictions_scroll = QScrollArea()
        predictions_scroll.setWidget(self.predictions)
        predictions_scroll.setWidgetResizable(True)
        predictions_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.centre_splitter = QSplitter(Qt.Orientation.Vertical)
        self.centre_splitter.addWidget(self.viewer)
        self.centre_splitter.addWidget(predictions_scroll)
        self.centre_splitter.setStretchFactor(0, 1)
        self.centre_splitter.setStretchFactor(1, 0)
        self.centre_splitter.setCollapsible(0, False)

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.addWidget(queue_panel)
        self.main_splitter.addWidget(self.centre_splitter)
        self.main_splitter.addWidget(settings_scroll)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setCollapsible(1, False)
        self.setCentralWidget(self.main_splitter)
        self.drop_overlay = DropOverlay(self.main_splitter)

    def _restore_layout(self) -> None:
        geometry = self.store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            screen = QGuiApplication.primaryScreen()
            available = screen.availableGeometry().size() if screen else QSize(1280, 800)
            self.resize(min(1400, int(available.width() * 0.9)), min(900, int(available.height() * 0.9)))
        for splitter, key in ((self.main_splitter, "window/main_splitter"), (self.centre_splitter, "window/centre_splitter")):
            state = self.store.value(key)
            if state is None or not splitter.restoreState(state):
                self.reset_layout()

    def reset_layout(self) -> None:
        """Panel sizes for the current window size: the settings as wide as their widest row (so no
        choice is cut off), the queue narrow, the photo the rest."""
        width = max(self.width(), 1000)
        settings = self.settings_scroll.verticalScrollBar().sizeHint().width() + max(
            self.settings_panel.minimumSizeHint().width(), 300 if width < 1600 else 380)
        queue = 230 if width < 1600 else 300
        self.main_splitter.setSizes([queue, width - queue - settings, settings])
        # The predictions get what they need, up to half the height (they scroll beyond it); the
        # photo gets the rest, so on a 1280x720 screen it is not squeezed to a strip.
        height = max(self.height() - 120, 480)
        predictions = min(self.predictions.sizeHint().height() + 8, height // 2)
        self.centre_splitter.setSizes([height - predictions, predictions])

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.eta = QLabel()
        self.statusBar().addPermanentWidget(self.eta)
        self.statusBar().addPermanentWidget(self.progress)
        self.progress.hide()

    def _build_actions(self) -> None:
        style = self.style()

        def action(text: str, slot, shortcuts=(), tip: str = "", icon=None) -> QAction:
            item = QAction(text, self)
            if shortcuts:
                item.setShortcuts([QKeySequence(key) for key in shortcuts])
                tip = f"{tip} ({QKeySequence(shortcuts[0]).toString(QKeySequence.SequenceFormat.NativeText)})"
            item.setToolTip(tip or text)
            item.setStatusTip(tip)
            if icon is not None:
                item.setIcon(style.standardIcon(icon))
            item.triggered.connect(slot)
            return item

        pixmap = QStyle.StandardPixmap
        self.open_action = action("Open Photos…", self.open_files, ["Ctrl+O"], "Add photos to the queue",
                                  pixmap.SP_DialogOpenButton)
        self.folder_action = action("Open Folder…", self.open_folder, ["Ctrl+Shift+O"],
                                    "Add every photo in a folder and its sub-folders", pixmap.SP_DirOpenIcon)
        self.protect_action = action("Protect Selected", self.protect_selected, ["Ctrl+Return", "Ctrl+Enter"],
                                     "Protect the selected photos", pixmap.SP_MediaPlay)
        self.protect_all_action = action("Protect All", self.protect_all, ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"],
                                         "Protect every photo in the queue", pixmap.SP_MediaSeekForward)
        self.cancel_action = action("Cancel", self.cancel, ["Esc"],
                                    "Stop protecting; photos already finished stay saved", pixmap.SP_MediaStop)
        self.output_action = action("Open Output Folder", self.open_output_folder, [],
                                    "Show the protected copies in the file manager", pixmap.SP_DirLinkIcon)
        self.report_action = action("Save Report…", self.save_report, ["Ctrl+S"],
                                    "Save the results of this session as JSON or CSV", pixmap.SP_DialogSaveButton)
        self.remove_action = action("Remove from Queue", self.remove_selected, ["Delete"],
                                    "Remove the selected photos from the queue (files are not touched)")
        self.clear_action = action("Clear Queue", self.clear_queue, [], "Remove all photos from the queue")
        self.select_all_action = action("Select All", self.queue.selectAll, ["Ctrl+A"], "Select every photo")
        self.quit_action = action("Quit", self.close, ["Ctrl+Q"], "Close PixelGuard")
        self.fit_action = action("Fit to Window", self.viewer.state.fit, ["Ctrl+0"], "Fit the photo to the window")
        self.actual_action = action("Actual Pixels (100%)", self.viewer.actual_pixels, ["Ctrl+1"],
                                    "One photo pixel per screen pixel")
        self.zoom_in_action = action("Zoom In", lambda: self.viewer.zoom_by(ZOOM_STEP), ["Ctrl++", "Ctrl+="],
                                     "Zoom in")
        self.zoom_out_action = action("Zoom Out", lambda: self.viewer.zoom_by(1 / ZOOM_STEP), ["Ctrl+-"], "Zoom out")
        self.about_action = action("About PixelGuard", self.about, [], "Version and licence")
        self.guide_action = action("PixelGuard Guide", self.show_guide, ["F1"],
                                   "What protection means, what is checked, what it cannot do")
        about_qt = action("About Qt", QApplication.aboutQt, [], "The Qt toolkit")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for item in (self.open_action, self.folder_action, None, self.output_action, self.report_action, None,
                     self.quit_action):
            file_menu.addSeparator() if item is None else file_menu.addAction(item)
        edit_menu = menu.addMenu("&Edit")
        for item in (self.select_all_action, self.remove_action, self.clear_action):
            edit_menu.addAction(item)
        protect_menu = menu.addMenu("&Protect")
        for item in (self.protect_action, self.protect_all_action, self.cancel_action):
            protect_menu.addAction(item)
        view_menu = menu.addMenu("&View")
        for index, name in enumerate(("Compare", "Threshold Map", "Perturbation")):
            view_menu.addAction(action(name, lambda checked=False, i=index: self.viewer.setCurrentIndex(i),
                                       [f"Alt+{index + 1}"], f"Show the {name.lower()} tab"))
        view_menu.addSeparator()
        for item in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            view_menu.addAction(item)
        view_menu.addSeparator()
        view_menu.addAction(action("Reset Layout", self.reset_layout, [], "Default panel sizes"))
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.guide_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)
        help_menu.addAction(about_qt)

        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for item in (self.open_action, self.folder_action, None, self.protect_action, self.protect_all_action,
                     self.cancel_action, None, self.output_action, self.report_action):
            toolbar.addSeparator() if item is None else toolbar.addAction(item)
        self.addToolBar(toolbar)

    def update_actions(self) -> None:
        busy = self.runs.protecting
        has_photos = self.photos.rowCount() > 0
        selected = bool(self.queue.selectionModel().selectedRows())
        self.protect_action.setEnabled(not busy and selected)
        self.protect_all_action.setEnabled(not busy and has_photos)
        self.cancel_action.setEnabled(busy)
        self.remove_action.setEnabled(not busy and selected)
        self.clear_action.setEnabled(not busy and has_photos)
        self.report_action.setEnabled(any(item.record is not None for item in self.photos.items))
        self.settings_panel.setEnabled(not busy)
        self.queue_stack.setCurrentIndex(1 if has_photos else 0)

    def _update_queue_title(self) -> None:
        items = self.photos.items
        protected = sum(item.status is Status.PROTECTED for item in items)
        text = f"<b>Photos</b> ({len(items)})"
        if protected:
            text += f" · {protected} protected"
        self.queue_title.setText(text)

    # -- the queue ----------------------------------------------------------------------
    def add_paths(self, paths: list[str | Path]) -> int:
        """Queue photos and folders (folders recursively); returns how many photos are new."""
        paths = [Path(path) for path in paths]
        missing = [path for path in paths if not path.exists()]
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            found = list(imageio.iter_images([path for path in paths if path.exists()], recursive=True))
        except PixelGuardError as error:
            found = []
            missing_text = str(error)
        else:
            missing_text = "; ".join(f"{path}: no such file or folder" for path in missing)
        finally:
            QApplication.restoreOverrideCursor()
        first_new = self.photos.rowCount()
        added = self.photos.add(found)
        self.refresh_existing_outputs()
        if added and not self.queue.currentIndex().isValid():
            self.queue.setCurrentIndex(self.photos.index(first_new))
        message = f"{added} photo(s) added; {self.photos.rowCount()} in the queue."
        if found and not added:
            message = "Those photos are already in the queue."
        elif not found and not missing_text:
            message = "No photos found there (JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC)."
        self.statusBar().showMessage(f"{message} {missing_text}".strip())
        self._update_queue_title()
        self.update_actions()
        return added

    def output_for(self, item: PhotoItem) -> Path:
        return imageio.output_path_for(item.path, self.settings_panel.output_folder(),
                                       self.settings_panel.output_format(), relative_to=item.base)

    def refresh_existing_outputs(self) -> None:
        """Mark photos whose protected copy is already in the output folder (and unmark the rest)."""
        if self.runs.protecting:
            return
        manifest = Manifest(self.settings_panel.output_folder())
        for row, item in enumerate(self.photos.items):
            if item.status in (Status.WAITING, Status.ALREADY_PROTECTED) and item.record is None:
                output = self.output_for(item)
                protected = output.resolve() != item.path.resolve() and manifest.lists_as_protected(output)
                self.photos.set_status(row, Status.ALREADY_PROTECTED if protected else Status.WAITING)
        self._update_queue_title()

    def open_files(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in sorted(imageio.IMAGE_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(self, "Open Photos", self._last_folder(),
                                                f"Photos ({patterns});;All files (*)")
        if files:
            self.store.setValue("window/last_folder", str(Path(files[0]).parent))
            self.add_paths(files)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Folder of Photos", self._last_folder())
        if folder:
            self.store.setValue("window/last_folder", folder)
            self.add_paths([folder])

    def _last_folder(self) -> str:
        return str(self.store.value("window/last_folder", str(Path.home())))

    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.queue.selectionModel().selectedRows())

    def remove_selected(self) -> None:
        if not self.runs.protecting:
            self.photos.remove_rows(self.selected_rows())
            self._after_queue_change()

    def clear_queue(self) -> None:
        if not self.runs.protecting:
            self.photos.remove_rows(list(range(self.photos.rowCount())))
            self._after_queue_change()

    def _after_queue_change(self) -> None:
        self._update_queue_title()
        self.update_actions()
        self.show_current()

    def _queue_menu(self, position) -> None:
        index = self.queue.indexAt(position)
        if not index.isValid():
            return
        item = self.photos.item(index.row())
        menu = QMenu(self)
        menu.addAction(self.protect_action)
        menu.addAction(self.remove_action)
        menu.addSeparator()
        menu.addAction("Show Original in Folder", lambda: reveal(self, item.path.parent))
        protected = self._protected_file(item)
        if protected is not None:
            failed = item.record is not None and item.record.status == Outcome.FAILED
            menu.addAction("Open Unprotected Copy" if failed else "Open Protected Copy",
                           lambda: reveal(self, protected))
        menu.exec(self.queue.viewport().mapToGlobal(position))

    def open_output_folder(self) -> None:
        folder = self.settings_panel.output_folder()
        if folder.is_dir():
            reveal(self, folder)
        else:
            self.statusBar().showMessage(f"{folder} does not exist yet: it is created when the first photo is saved.")

    def save_report(self) -> None:
        records = [item.record.to_dict() for item in self.photos.items if item.record is not None]
        if not records:
            return
        suggestion = str(self.settings_panel.output_folder() / "pixelguard-report.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save Report", suggestion, "JSON (*.json);;CSV (*.csv)")
        if not path:
            return
        try:
            write_report(records, path)
        except (PixelGuardError, OSError) as error:
            QMessageBox.warning(self, "Save Report", f"The report could not be saved: {error}")
            return
        self.statusBar().showMessage(f"Report saved: {path}")

    # -- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
            self.drop_overlay.cover()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.drop_overlay.hide()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.drop_overlay.hide()
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # -- the selected photo -------------------------------------------------------------
    def current_item(self) -> PhotoItem | None:
        index = self.queue.currentIndex()
        return self.photos.item(index.row()) if index.isValid() else None

    def _protected_file(self, item: PhotoItem) -> Path | None:
        if item.record is not None and item.record.output and item.record.status != Outcome.ERROR:
            return Path(item.record.output)
        if item.status is Status.ALREADY_PROTECTED:
            return self.output_for(item)
        return None

    def show_current(self) -> None:
        """Show the current photo: pictures and predictions come from the preview thread."""
        self.update_actions()
        self.generation += 1
        self.preview_worker.latest = self.generation
        item = self.current_item()
        self.viewer.set_photo(None, f"Loading {item.path.name}…" if item is not None else "")
        self.viewer.set_heat_map(None, self.settings_panel.strength_levels())
        if item is None:
            self.setWindowTitle("PixelGuard")
            self.predictions.show_nothing()
            return
        self.setWindowTitle(f"{item.path.name} — PixelGuard")
        if item.status is Status.FAILED:  # it did not decode (when queued, or when protected)
            reason = f"This photo cannot be protected: {item.reason}"
            self.viewer.set_photo(None, reason)
            self.predictions.show_unusable(reason)
            return
        if item.record is not None:
            self.predictions.show_record(item.record)
        else:
            self._show_preview_verdict(item)
        self.preview_requested.emit(PreviewRequest(
            self.generation, item.path, self._protected_file(item), self.settings_panel.settings(),
            predictions=item.before is None and item.record is None,
            tags=self.settings_panel.tags_wanted(),
        ))

    def _start_preview_thread(self) -> None:
        self.preview_thread = QThread(self)
        self.preview_thread.setObjectName("pixelguard-preview")
        self.preview_worker = PreviewWorker(self.models)
        self.preview_worker.moveToThread(self.preview_thread)
        self.preview_requested.connect(self.preview_worker.preview)
        self.preview_worker.original_ready.connect(self._original_ready)
        self.preview_worker.heat_map_ready.connect(self._heat_map_ready)
        self.preview_worker.protected_ready.connect(self._protected_ready)
        self.preview_worker.predictions_ready.connect(self._predictions_ready)
        self.preview_worker.unavailable.connect(self._preview_unavailable)
        self.preview_thread.start()

    def _original_ready(self, generation: int, image) -> None:
        if generation == self.generation:
            self.viewer.set_photo(QPixmap.fromImage(image))

    def _heat_map_ready(self, generation: int, image) -> None:
        if generation == self.generation:
            self.viewer.set_heat_map(QPixmap.fromImage(image), self.settings_panel.strength_levels())

    def _protected_ready(self, generation: int, protected, change, factor: int) -> None:
        item = self.current_item()
        if generation == self.generation and item is not None:
            failed = item.record is not None and item.record.status == Outcome.FAILED
            self.viewer.set_protected(QPixmap.fromImage(protected), QPixmap.fromImage(change), factor,
                                      caption="NOT protected" if failed else "Protected")

    def _predictions_ready(self, generation: int, before: list, tags: list) -> None:
        item = self.current_item()
        if generation != self.generation or item is None:
            return
        self.settings_panel.show_tags(tags)
        if item.before is None and before:
            item.before = before
        if item.record is None:
            self._show_preview_verdict(item)

    def _show_preview_verdict(self, item: PhotoItem) -> None:
        state = PREVIEW_STATES.get(item.status, "Not protected yet.")
        self.predictions.show_preview(item.before, self.settings_panel.settings().label, state=state)

    def _preview_unavailable(self, generation: int, message: str) -> None:
        item = self.current_item()
        if generation != self.generation or item is None:
            return
        self.statusBar().showMessage(message)
        if item.record is None:
            self.predictions.show_preview(None, None, message)

    def _model_or_device_changed(self) -> None:
        for item in self.photos.items:
            item.before = None
        self.show_current()

    # -- protecting ---------------------------------------------------------------------
    def protect_selected(self) -> None:
        self.protect(self.selected_rows())

    def protect_all(self) -> None:
        self.protect(list(range(self.photos.rowCount())))

    def protect(self, rows: list[int]) -> None:
        if self.runs.protecting or not rows:
            return
        panel = self.settings_panel
        settings = panel.settings()
        folder = panel.output_folder()
        try:
            settings.validate()
            jobs = list(zip(rows, checked_jobs([Job(self.photos.item(row).path, self.output_for(self.photos.item(row)))
                                                for row in rows], folder)))
        except PixelGuardError as error:
            QMessageBox.warning(self, "Cannot Protect", str(error))
            return
        overwrite = panel.replace_existing()
        already = [row for row in rows if self.photos.item(row).status is Status.ALREADY_PROTECTED]
        if already and not overwrite:
            choice = self._ask_about_existing(len(already), len(rows), folder)
            if choice is None:
                return
            overwrite = choice
        panel.save(self.store)
        for row in rows:
            self.photos.set_status(row, Status.QUEUED)
        self.progress.setValue(0)
        self.progress.show()
        self.runs.protect(jobs, settings, folder, overwrite, keep_failed=panel.keep_unprotected())

    def _ask_about_existing(self, count: int, total: int, folder: Path) -> bool | None:
        return ask_about_existing(self, count, total, folder)

    def _connect_runs(self) -> None:
        runs = self.runs
        runs.message.connect(self.statusBar().showMessage)
        runs.problem.connect(lambda title, text: QMessageBox.warning(self, title, text))
        runs.photo_started.connect(self._photo_started)
        runs.photo_progress.connect(self.photos.set_progress)
        runs.photo_finished.connect(self._photo_finished)
        runs.rows_not_finished.connect(self._rows_not_finished)
        runs.progress.connect(self._show_progress)
        runs.download_progress.connect(self._download_progress)
        runs.download_over.connect(self._download_over)
        runs.protection_over.connect(self._protection_over)
        runs.busy_changed.connect(self.update_actions)

    def _photo_started(self, row: int) -> None:
        self._close_download_dialog()
        self.photos.set_status(row, Status.RUNNING)
        self.statusBar().showMessage(f"Protecting {self.photos.item(row).path.name}…")
        if self.queue.currentIndex().row() == row:
            self._show_preview_verdict(self.photos.item(row))

    def _show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(fraction * PROGRESS_STEPS))
        self.progress.setFormat(f"{fraction:.0%}")
        self.eta.setText(text)

    def _photo_finished(self, row: int, record: ProtectionRecord) -> None:
        self.photos.set_record(row, record)
        self._update_queue_title()
        if self.queue.currentIndex().row() == row:
            self.show_current()

    def _rows_not_finished(self, rows: list[int]) -> None:
        """Rows the batch left without a result (not started, or cancelled mid-photo) go back to
        what they were: an earlier result of this session, else waiting (refresh_existing_outputs
        then marks copies already on disk)."""
        for row in rows:
            item = self.photos.item(row)
            if item.status not in (Status.QUEUED, Status.RUNNING):
                continue
            if item.record is not None:
                self.photos.set_record(row, item.record)
            else:
                self.photos.set_status(row, Status.WAITING)

    def _protection_over(self, summary: str) -> None:
        self._close_download_dialog()
        self.progress.hide()
        self.eta.setText("")
        self.refresh_existing_outputs()
        self._update_queue_title()
        self.statusBar().showMessage(summary)
        self.show_current()

    def cancel(self) -> None:
        self.runs.cancel()

    # -- downloads ----------------------------------------------------------------------
    def _download_over(self, ready: bool) -> None:
        self._close_download_dialog()
        self.settings_panel.refresh_model_status()
        if ready:
            self._model_or_device_changed()

    def _download_progress(self, done: float, total: float) -> None:
        if self.download_dialog is None:
            self.download_dialog = DownloadDialog(self)
            self.download_dialog.canceled.connect(self.cancel)
        self.download_dialog.show_progress(done, total)

    def _close_download_dialog(self) -> None:
        if self.download_dialog is not None:
            self.download_dialog.finish()
            self.download_dialog = None

    # -- window -------------------------------------------------------------------------
    def show_guide(self) -> None:
        if self.guide is None:
            self.guide = GuideDialog(self)
        self.guide.show()
        self.guide.raise_()

    def about(self) -> None:
        QMessageBox.about(
            self, "About PixelGuard",
            f"<h3>PixelGuard {__version__}</h3>"
            "<p>Adds changes people cannot see to your photos, so automatic image classifiers no longer "
            "recognise what they show, and proves it by reading the saved file back.</p>"
            "<p>Everything runs on this computer: no photo ever leaves it.</p>"
            f"<p>Licence: {LICENCE}.<br>The default model, EfficientNet-Lite0, is Apache-2.0; other models carry "
            "their own licences (see the model list).</p>",
        )

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.drop_overlay.isVisible():
            self.drop_overlay.cover()

    def closeEvent(self, event) -> None:  # noqa: N802
        """Ask while a protection runs; save settings, cancel running work and wait for the threads, then close."""
        if self.runs.protecting and not self._confirm_stop():
            event.ignore()
            return
        self.settings_panel.save(self.store)
        self.store.setValue("window/geometry", self.saveGeometry())
        self.store.setValue("window/main_splitter", self.main_splitter.saveState())
        self.store.setValue("window/centre_splitter", self.centre_splitter.saveState())
        self.store.sync()
        self.hide()  # gone at once; the threads below stop at their next check, which can take a moment
        self.runs.stop()
        self.preview_worker.latest = -1  # drop the rest of any preview in progress
        self.preview_thread.quit()
        self.preview_thread.wait()
        self.photos.wait_for_thumbnails()
        QThreadPool.globalInstance().waitForDone()
        event.accept()




    def _confirm_stop(self) -> bool:
        return confirm_stop(self)


PREVIEW_STATES = {Status.RUNNING: "Protecting now.", Status.QUEUED: "Queued for protection.",
                  Status.ALREADY_PROTECTED: "A protected copy already exists."}
