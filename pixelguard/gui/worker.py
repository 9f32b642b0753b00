"""Work off the GUI thread: protecting a queue, and small background jobs (maps, tags).

The worker calls the same engine functions as the CLI (Protector, protect_batch) and only
turns their callbacks into Qt signals, so the window never blocks.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from pixelguard.attacks.loop import AttackCancelled
from pixelguard.errors import PixelGuardError
from pixelguard.models import DownloadCancelled, download_model, model_status
from pixelguard.protect import Job, Protector, ProtectSettings, protect_batch


class ProtectWorker(QObject):
    """Protects a list of (queue row, job) pairs, saving each photo as soon as it is done."""

    photo_started = Signal(int)  # queue row
    iteration = Signal(int, int)  # iteration, max
    photo_finished = Signal(int, dict)  # queue row, report record
    download_progress = Signal(int, int)  # bytes done, total (0 if unknown)
    failed = Signal(str)  # a plain-words message for the whole run
    finished = Signal()

    def __init__(self, jobs: list[tuple[int, Job]], settings: ProtectSettings, overwrite: bool = True):
        super().__init__()
        self.jobs = jobs
        self.settings = replace(settings)
        self.overwrite = overwrite
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    @Slot()
    def run(self) -> None:
        try:
            self._ensure_downloaded()
            protector = Protector(self.settings)
            rows = [row for row, _ in self.jobs]
            records = protect_batch(
                [job for _, job in self.jobs], protector, overwrite=self.overwrite,
                on_start=lambda index, job: self.photo_started.emit(rows[index]),
                on_iteration=self.iteration.emit, should_stop=self._stop.is_set,
            )
            for row, record in zip(rows, records):
                self.photo_finished.emit(row, record.to_dict())
        except (AttackCancelled, DownloadCancelled):
            pass
        except PixelGuardError as error:
            self.failed.emit(str(error))
        except Exception as error:  # never let the app crash on an unexpected engine error
            self.failed.emit(f"unexpected error: {error}")
        finally:
            self.finished.emit()

    def _ensure_downloaded(self) -> None:
        """Fetch a registry model that is not on disk yet, cancellably, with progress."""
        for name in self.settings.model.split(","):
            if model_status(name) == "not-downloaded":
                download_model(name, progress=self._progress, cancel=self._stop)

    def _progress(self, done: int, total: int | None) -> bool:
        self.download_progress.emit(done, total or 0)
        return not self._stop.is_set()


class _TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(str)


class BackgroundTask(QRunnable):
    """Run `function()` on the thread pool; `done(result)` or `failed(message)` on the GUI thread."""

    def __init__(self, function: Callable[[], object]):
        super().__init__()
        self.function = function
        self.signals = _TaskSignals()

    def run(self) -> None:
        try:
            result = self.function()
        except Exception as error:  # shown as a status message, never a crash
            self.signals.failed.emit(str(error))
        else:
            self.signals.done.emit(result)


def run_in_background(function: Callable[[], object], on_done: Callable[[object], None],
                      on_failed: Callable[[str], None]) -> BackgroundTask:
    task = BackgroundTask(function)
    task.signals.done.connect(on_done)
    task.signals.failed.connect(on_failed)
    QThreadPool.globalInstance().start(task)
    return task
