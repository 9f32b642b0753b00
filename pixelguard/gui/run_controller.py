"""The window's runs: protecting a batch and downloading a model, from start to an honest end.

`RunController` owns the worker threads (through BackgroundRun), the batch's progress and its
counts, and turns what the workers report into what the window shows: a row's state only ever
says what is on disk, a cancelled batch says what finished, and a download that failed says so.
The window asks it to start, cancel and stop; it never touches a thread itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from pixelguard.batch import Job
from pixelguard.gui.workers import BackgroundRun, DownloadWorker, ModelCache, ProtectWorker
from pixelguard.protect import ProtectionRecord
from pixelguard.settings import ProtectSettings

# How the summary names each outcome; "earlier": protected by an earlier run, left as it was.
OUTCOME_WORDS = {"protected": "protected", "failed": "not protected", "error": "failed", "earlier": "already protected"}


class BatchProgress:
    """Fraction done and time left for a batch, from measured work, not from photo counts.

    Work is counted in attack iterations. The time per iteration is measured across the batch,
    each photo's fixed cost (loading, encoding, the held-out checks) from the photos that ran,
    and a photo still to come is expected to take as many iterations as the finished ones did
    (the most it may take before any has finished). A photo that failed at once (a bad file)
    ran no iterations and changes neither estimate.
    """

    def __init__(self, photos: int, max_iter: int, clock: Callable[[], float] = time.monotonic):
        self.photos = photos
        self.max_iter = max(max_iter, 1)
        self.done = 0
        self._clock = clock
        self._running = False
        self._photo_started = clock()
        self._step = 0  # iterations of the running photo so far (all its attempts)
        self._attempt_step = 0
        self._iteration_seconds = 0.0  # time spent in measured iterations
        self._iterations = 0
        self._last_tick: float | None = None
        self._finished_iterations: list[int] = []
        self._overheads: list[float] = []

    @property
    def current(self) -> float:
        """The running photo's share of its expected iterations, for its row."""
        return min(1.0, self._step / self._expected_iterations()) if self._running else 0.0

    def start_photo(self) -> None:
        self._running = True
        self._step = self._attempt_step = 0
        self._photo_started = self._clock()
        self._last_tick = None  # the time to the first step is the photo's fixed cost, not a step's

    def iteration(self, step: int, total: int) -> None:
        now = self._clock()
        if step < self._attempt_step:  # a further attempt restarts its count
            self._attempt_step = 0
        if self._last_tick is not None and step > self._attempt_step:
            self._iteration_seconds += now - self._last_tick
            self._iterations += step - self._attempt_step
        self._step += max(0, step - self._attempt_step)
        self._attempt_step = step
        self._last_tick = now

    def finish_photo(self, iterations: int) -> None:
        """`iterations`: how many the photo ran (its record's); 0 for a file that failed at once."""
        if iterations > 0 and self._running:
            self._finished_iterations.append(iterations)
            seconds = self._clock() - self._photo_started
            self._overheads.append(max(0.0, seconds - iterations * self._seconds_per_iteration()))
        self.done += 1
        self._running = False
        self._step = self._attempt_step = 0
        self._last_tick = None

    def _seconds_per_iteration(self) -> float:
        return self._iteration_seconds / self._iterations if self._iterations else 0.0

    def _expected_iterations(self) -> float:
        if self._finished_iterations:
            return max(1.0, sum(self._finished_iterations) / len(self._finished_iterations))
        return float(self.max_iter)

    def _work_left(self) -> tuple[float, int]:
        """(iterations, photos) still to run, the running photo included."""
        expected = self._expected_iterations()
        waiting = self.photos - self.done - (1 if self._running else 0)
        running = max(0.0, expected - self._step) if self._running else 0.0
        return running + waiting * expected, waiting + (1 if self._running else 0)

    @property
    def fraction(self) -> float:
        iterations_left, _ = self._work_left()
        done = sum(self._finished_iterations) + self._step
        total = done + iterations_left
        if total <= 0:
            return min(1.0, self.done / max(self.photos, 1))
        return min(1.0, done / total)

    @property
    def upper_bound(self) -> bool:
        """True while no photo has finished: a photo stops once protected, so max_iter is only a cap."""
        return not self._finished_iterations

    def seconds_left(self) -> float | None:
        """None until an iteration has been timed; an upper bound while `upper_bound`."""
        if not self._iterations:
            return None
        iterations_left, photos_left = self._work_left()
        overhead = sum(self._overheads) / len(self._overheads) if self._overheads else 0.0
        return iterations_left * self._seconds_per_iteration() + photos_left * overhead


def describe_seconds(seconds: float | None, at_most: bool = False) -> str:
    if seconds is None:
        return "estimating time left…"
    about = "at most" if at_most else "about"
    if seconds < 60:
        return f"{about} {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"{about} {round(seconds / 60)} min left"
    return f"{about} {seconds / 3600:.1f} h left"


class RunController(QObject):
    """Starts, follows, cancels and tears down the window's protection and download runs."""

    photo_started = Signal(int)  # queue row
    photo_progress = Signal(int, float)  # queue row, fraction of its expected work
    photo_finished = Signal(int, object)  # queue row, ProtectionRecord
    rows_not_finished = Signal(list)  # queued rows left without a result (never started, or cancelled mid-way)
    progress = Signal(float, str)  # fraction of the batch, "1 of 3 · about 20 s left"
    message = Signal(str)  # for the status bar
    problem = Signal(str, str)  # title, message: something the user must read
    busy_changed = Signal()
    download_progress = Signal(float, float)  # bytes done, total (0 when unknown)
    download_over = Signal(bool)  # True when the model is now on this computer
    protection_over = Signal(str)  # the batch's summary, as shown in the status bar

    def __init__(self, models: ModelCache, parent: QObject | None = None):
        super().__init__(parent)
        self.models = models
        self._protect: BackgroundRun | None = None
        self._download: BackgroundRun | None = None
        self.batch: BatchProgress | None = None
        self.counts: dict[str, int] = {}
        self._rows: list[int] = []
        self._finished: set[int] = set()
        self._running_row: int | None = None
        self._out_dir = Path()
        self._failure = ""
        self._failure_download = ""
        self._cancelled = False

    @property
    def protecting(self) -> bool:
        return self._protect is not None

    @property
    def downloading(self) -> bool:
        return self._download is not None

    @property
    def protect_thread(self):
        return self._protect.thread if self._protect is not None else None

    @property
    def protect_worker(self) -> ProtectWorker | None:
        return self._protect.worker if self._protect is not None else None

    # -- protecting ---------------------------------------------------------------------
    def protect(self, jobs: list[tuple[int, Job]], settings: ProtectSettings, out_dir: Path,
                overwrite: bool, keep_failed: bool = False) -> None:
        if self._protect is not None:
            return
        self._rows = [row for row, _ in jobs]
        self._finished = set()
        self._running_row = None
        self._out_dir = out_dir
        self._failure = ""
        self._cancelled = False
        self.batch = BatchProgress(len(jobs), settings.max_iter)
        self.counts = {"protected": 0, "failed": 0, "error": 0, "earlier": 0}
        worker = ProtectWorker(jobs, settings, self.models, out_dir, overwrite=overwrite, keep_failed=keep_failed)
        worker.status.connect(self.message)
        worker.download_progress.connect(self.download_progress)
        worker.photo_started.connect(self._photo_started)
        worker.iteration.connect(self._iteration)
        worker.photo_finished.connect(self._photo_finished)
        worker.failed.connect(self._protect_failed)
        worker.finished.connect(self._protect_finished)
        self._protect = BackgroundRun(worker, self)
        self.message.emit(f"Protecting {len(jobs)} photo(s)…")
        self._emit_progress()
        self.busy_changed.emit()

    def _photo_started(self, row: int) -> None:
        self._running_row = row
        self.batch.start_photo()
        self.photo_started.emit(row)
        self._emit_progress()

    def _iteration(self, step: int, total: int) -> None:
        if self.batch is None or self._running_row is None:
            return
        self.batch.iteration(step, total)
        self.photo_progress.emit(self._running_row, self.batch.current)
        self._emit_progress()

    def _photo_finished(self, row: int, record: ProtectionRecord) -> None:
        self._finished.add(row)
        self.batch.finish_photo(record.iterations)
        outcome = "earlier" if record.resumed else str(record.status)
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self._running_row = None
        self.photo_finished.emit(row, record)
        self._emit_progress()

    def _emit_progress(self) -> None:
        batch = self.batch
        left = describe_seconds(batch.seconds_left(), at_most=batch.upper_bound)
        self.progress.emit(batch.fraction, f"{batch.done} of {batch.photos} · {left}")

    def _protect_failed(self, message: str) -> None:
        self._failure = message

    def _protect_finished(self, cancelled: bool) -> None:
        if self._protect is None:  # stopped already (the window closed)
            return
        self._protect.dispose()
        self._protect = None
        self._running_row = None
        self.rows_not_finished.emit([row for row in self._rows if row not in self._finished])
        summary = self.summary(cancelled or self._cancelled)
        self.protection_over.emit(summary)
        self.busy_changed.emit()
        if self._failure:
            self.problem.emit("Protection Stopped", self._failure)

    def summary(self, cancelled: bool) -> str:
        """What the batch did, in the words the queue uses, and where the copies are."""
        counts = ", ".join(f"{count} {OUTCOME_WORDS[outcome]}" for outcome, count in self.counts.items() if count)
        not_finished = len(self._rows) - len(self._finished)
        if self._failure:
            head = f"Stopped: {self._failure}"
        elif cancelled:
            head = "Cancelled"
        else:
            head = "Done"
        parts = [counts] if counts else []
        if not_finished:
            parts.append(f"{not_finished} not protected yet")
        text = f"{head}. {'; '.join(parts) or 'Nothing finished'}."
        if self.counts.get("protected"):
            text += f" Protected copies are in {self._out_dir}."
        return text

    # -- downloading --------------------------------------------------------------------
    def download(self, name: str) -> None:
        if self._download is not None:
            return
        self._failure_download = ""
        worker = DownloadWorker(name)
        worker.status.connect(self.message)
        worker.download_progress.connect(self.download_progress)
        worker.failed.connect(self._download_failed)
        worker.finished.connect(self._download_finished)
        self._download = BackgroundRun(worker, self)
        self.download_progress.emit(0.0, 0.0)
        self.busy_changed.emit()

    def _download_failed(self, message: str) -> None:
        self._failure_download = message

    def _download_finished(self, cancelled: bool) -> None:
        if self._download is None:
            return
        self._download.dispose()
        self._download = None
        failure = self._failure_download
        if failure:
            self.message.emit(f"Download failed: {failure}")
            self.problem.emit("Download Failed", failure)
        elif cancelled:
            self.message.emit("Download cancelled; it resumes where it stopped next time.")
        else:
            self.message.emit("Model downloaded; it works offline from now on.")
        self.download_over.emit(not failure and not cancelled)
        self.busy_changed.emit()

    # -- both ---------------------------------------------------------------------------
    def cancel(self) -> None:
        """Finish the photo being written, start no other; stop a download."""
        if self._protect is not None:
            self._cancelled = True
            self._protect.cancel()
            self.message.emit("Cancelling… photos already finished stay saved.")
        if self._download is not None:
            self._download.cancel()

    def stop(self) -> None:
        """Cancel everything and wait for the threads to end (the window is closing)."""
        for run in (self._protect, self._download):
            if run is not None:
                run.stop()
        self._protect = self._download = None
