"""Work off the GUI thread: protecting a batch, previewing the selected photo, downloading models.

The workers call the same engine functions as the CLI (Protector, protect_batch, download_model,
the preview pictures) and only turn their callbacks into Qt signals, so the window never blocks.
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, SignalInstance, Slot
from PySide6.QtGui import QImage

from pixelguard import imageio
from pixelguard.attacks.loop import AttackCancelled
from pixelguard.devices import resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.models import DownloadCancelled, download_model
from pixelguard.models.datapacks import download_datapack
from pixelguard.preview import amplified_difference, threshold_heat_map
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector, data_packs_to_download, models_to_download, top_k
from pixelguard.settings import ProtectSettings
from pixelguard.tagging import ranked_tags
from pixelguard.transfer import load_models


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """HxWx3 uint8 -> QImage that owns a copy of the pixels (safe to build off the GUI thread)."""
    rgb = np.ascontiguousarray(rgb)
    height, width, _ = rgb.shape
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class _Delivery(QObject):
    done = Signal(object)


class BackgroundCall(QRunnable):
    """`function()` on Qt's global thread pool; its result goes to `on_done` on the GUI thread."""

    def __init__(self, function: Callable[[], object], on_done: Callable[[object], None]):
        super().__init__()
        self.function = function
        self.delivery = _Delivery()  # made on the GUI thread, so its slot runs there
        self.delivery.done.connect(on_done)
        QThreadPool.globalInstance().start(self)

    def run(self) -> None:
        try:
            result = self.function()
        except Exception:  # a bug here must not end the app; the caller keeps its default
            traceback.print_exc()
            return
        self.delivery.done.emit(result)


class ModelCache:
    """Loaded models shared by the preview and protection threads, a few (model, device) at a time."""

    def __init__(self, capacity: int = 2):
        self._capacity = capacity
        self._lock = threading.Lock()
        self._models: OrderedDict[tuple[str, str], torch.nn.Module] = OrderedDict()

    def get(self, spec: str, device: str) -> torch.nn.Module:
        key = (spec, str(resolve_device(device)))
        with self._lock:
            if key not in self._models:
                self._models[key] = load_models(spec, device=key[1])
                while len(self._models) > self._capacity:
                    self._models.popitem(last=False)
            self._models.move_to_end(key)
            return self._models[key]


def download_missing(spec: str, stop: threading.Event, status: SignalInstance, progress: SignalInstance,
                     packs: Iterable[str] = ()) -> None:
    """Fetch the registry models `spec` needs, and `packs`, where not here yet; setting `stop` cancels."""

    def report(done: int, total: int | None) -> None:
        progress.emit(float(done), float(total or 0))

    wanted = [(name, "model", download_model) for name in models_to_download(spec)]
    wanted += [(pack, "data", download_datapack) for pack in packs]
    for name, kind, download in wanted:
        status.emit(f"Downloading {name}…" if kind == "model" else f"Downloading the {name} data…")
        try:
            download(name, progress=report, cancel=stop)
        except DownloadCancelled:
            raise
        except PixelGuardError as error:
            # Say what is missing and what to do; the download's own words stay at the end.
            raise PixelGuardError(
                f"{name} is not on this computer yet and could not be downloaded. Connect to the internet and "
                f"try again{', or choose an installed model' if kind == 'model' else ''}. ({error})") from error


class CancellableWorker(QObject):
    """A job for a QThread: subclasses define work(); cancellable; errors become `failed`."""

    status = Signal(str)
    download_progress = Signal(float, float)  # bytes done, total (0 when unknown)
    failed = Signal(str)  # a plain-words message that ends the whole run
    finished = Signal(bool)  # cancelled

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @Slot()
    def run(self) -> None:
        try:
            self.work()
        except (AttackCancelled, DownloadCancelled):
            pass
        except PixelGuardError as error:
            self.failed.emit(str(error))
        except Exception as error:  # an engine bug must not take the window down
            traceback.print_exc()
            self.failed.emit(f"Unexpected error: {error}")
        finally:
            self.finished.emit(self._stop.is_set())


class BackgroundRun:
    """A CancellableWorker on a thread of its own, from start to teardown; the window holds one
    per kind of work (protecting, downloading) and asks it, not the thread, what to do."""

    def __init__(self, worker: CancellableWorker, parent: QObject):
        self.worker = worker
        self.thread = QThread(parent)
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        self.thread.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def stop(self) -> None:
        """Cancel (nothing to do once the work is over), then wait for the thread to end."""
        self.worker.cancel()
        self.thread.quit()
        self.thread.wait()

    def dispose(self) -> None:
        """stop(), then free the thread and the worker."""
        self.stop()
        self.thread.deleteLater()
        self.worker.deleteLater()


class ProtectWorker(CancellableWorker):
    """Protects (queue row, job) pairs in order, saving each photo as soon as it is done."""

    photo_started = Signal(int)  # queue row
    iteration = Signal(int, int)  # step, max
    photo_finished = Signal(int, object)  # queue row, ProtectionRecord

    def __init__(self, jobs: list[tuple[int, Job]], settings: ProtectSettings, models: ModelCache,
                 out_dir: Path, overwrite: bool = False, keep_failed: bool = False):
        super().__init__()
        self.jobs = jobs
        self.out_dir = out_dir
        self.settings = replace(settings)
        self.models = models
        self.overwrite = overwrite
        self.keep_failed = keep_failed  # also write unprotected results, as NAME.NOT-PROTECTED.ext

    def work(self) -> None:
        download_missing(self.settings.model, self._stop, self.status, self.download_progress,
                         data_packs_to_download(self.settings))
        self.status.emit(f"Loading {self.settings.model}…")
        protector = Protector(self.settings, model=self.models.get(self.settings.model, self.settings.device))
        rows = [row for row, _ in self.jobs]
        records = protect_batch(
            [job for _, job in self.jobs], protector,
            overwrite=self.overwrite, skip_existing=not self.overwrite, keep_failed=self.keep_failed,
            out_dir=self.out_dir,
            on_start=lambda index, job: self.photo_started.emit(rows[index]),
            on_iteration=self.iteration.emit, should_stop=self._stop.is_set,
        )
        for row, record in zip(rows, records):
            self.photo_finished.emit(row, record)
            if self._stop.is_set():
                break


class DownloadWorker(CancellableWorker):
    """Downloads one model ahead of use (the settings panel's Download button)."""

    def __init__(self, spec: str):
        super().__init__()
        self.spec = spec

    def work(self) -> None:
        download_missing(self.spec, self._stop, self.status, self.download_progress)


@dataclass(frozen=True)
class PreviewRequest:
    """What to show for one photo; `generation` lets a newer request supersede this one."""

    generation: int
    path: Path
    output: Path | None  # the protected file, when there is one
    settings: ProtectSettings
    predictions: bool = True  # run the model for the top-5 on the original
    tags: int = 0  # how many ranked tags to report (0: none)


class PreviewWorker(QObject):
    """Loads the selected photo and computes its pictures and predictions, newest request first.

    Lives on its own thread for the whole session; requests superseded by a newer selection are
    dropped between steps.
    """

    original_ready = Signal(int, QImage)
    heat_map_ready = Signal(int, QImage)
    protected_ready = Signal(int, QImage, QImage, int)  # protected, amplified change, factor
    predictions_ready = Signal(int, object, object)  # [[label, prob], ...], [Tag, ...]
    unavailable = Signal(int, str)  # why something could not be shown

    def __init__(self, models: ModelCache):
        super().__init__()
        self.models = models
        self.latest = 0  # set from the GUI thread before each request

    @Slot(object)
    def preview(self, request: PreviewRequest) -> None:
        try:
            self._preview(request)
        except PixelGuardError as error:
            self.unavailable.emit(request.generation, str(error))
        except Exception as error:
            traceback.print_exc()
            self.unavailable.emit(request.generation, f"Unexpected error: {error}")

    def _current(self, request: PreviewRequest) -> bool:
        return request.generation == self.latest

    def _preview(self, request: PreviewRequest) -> None:
        if not self._current(request):
            return
        source = imageio.load_image(request.path)
        rgb = source.rgb
        self.original_ready.emit(request.generation, qimage_from_rgb(rgb))
        if request.output is not None and request.output.exists() and self._current(request):
            protected = imageio.load_image(request.output).rgb
            if protected.shape == rgb.shape:
                change, factor = amplified_difference(rgb, protected)
                self.protected_ready.emit(request.generation, qimage_from_rgb(protected),
                                          qimage_from_rgb(change), factor)
        settings = request.settings
        if self._current(request) and (request.predictions or request.tags):
            imageio.check_processable(source)
            self._predict(request, rgb)
        if self._current(request):
            heat_map = threshold_heat_map(rgb, settings.window, settings.sigma)
            self.heat_map_ready.emit(request.generation, qimage_from_rgb(heat_map))

    def _predict(self, request: PreviewRequest, rgb: np.ndarray) -> None:
        settings = request.settings
        missing = models_to_download(settings.model)
        if missing:
            self.unavailable.emit(request.generation,
                                  f"Download {', '.join(missing)} to see its predictions (Settings → Download).")
            return
        protector = Protector(settings, model=self.models.get(settings.model, settings.device))
        logits = protector.logits(protector.tensor(rgb))
        tags = ranked_tags(protector.model, protector.labels, logits, request.tags) if request.tags else []
        self.predictions_ready.emit(request.generation, top_k(logits, protector.labels), tags)
