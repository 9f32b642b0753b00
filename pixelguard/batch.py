"""Batches: plan the outputs, protect photo after photo, and know what earlier runs protected.

A plan is checked before any work: the output folder must be a folder that is not an input
folder, no output may replace an input, and two inputs never share an output name. While a
batch runs it holds a lock on its output folder, and after each photo it records the verdict
in a manifest there (input and output SHA-256, settings), written atomically: a resumed batch
skips only photos whose verified output is still the file it wrote, and its report keeps the
earlier rows. Failed photos are not written under their final name (pixelguard.protect).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pixelguard import imageio
from pixelguard.atomic import remove_stale_temporaries, write_atomically
from pixelguard.errors import PixelGuardError
from pixelguard.models.download import sha256_file
from pixelguard.protect import Outcome, Protector, ProtectionRecord
from pixelguard.settings import ProtectSettings

MANIFEST_NAME = ".pixelguard-manifest.json"
LOCK_NAME = ".pixelguard.lock"
_MANIFEST_VERSION = 1


@dataclass
class Job:
    """One photo of a batch, where its protected copy goes, and what planning changed."""

    input: Path
    output: Path
    notes: list[str] = field(default_factory=list)


def plan_jobs(inputs: Iterable[str | Path], out_dir: str | Path, *, recursive: bool, fmt: str) -> list[Job]:
    """Expand files and folders into jobs, with outputs checked before any work.

    Names and sub-folders are kept; an output folder inside an input folder is not walked.
    Raises PixelGuardError when the output folder cannot hold the copies or an output would
    replace an input.
    """
    inputs = [Path(entry) for entry in inputs]
    out_dir = Path(out_dir)
    check_output_folder(out_dir, inputs)
    jobs = [Job(path, imageio.output_path_for(path, out_dir, fmt, relative_to=base))
            for path, base in imageio.iter_images(inputs, recursive=recursive, exclude=[out_dir])]
    return checked_jobs(jobs, out_dir)


def checked_jobs(jobs: list[Job], out_dir: Path, inputs: Iterable[Path] = ()) -> list[Job]:
    """The jobs of a batch into `out_dir`, checked before any work (the output folder, no copy
    replacing its original) and with distinct output names; PixelGuardError otherwise."""
    check_output_folder(out_dir, inputs)
    for job in jobs:
        if imageio.same_file(job.output, job.input):
            raise PixelGuardError(f"{job.input}: its protected copy would replace the original; "
                                  "choose another output folder")
    return give_distinct_names(jobs)


def check_output_folder(out_dir: Path, inputs: Iterable[Path] = ()) -> None:
    """PixelGuardError unless `out_dir` is (or can become) a writable folder that is no input folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PixelGuardError(f"{out_dir}: exists and is not a folder; choose a folder for the protected copies")
    for entry in inputs:
        if entry.is_dir() and imageio.same_file(out_dir, entry):
            raise PixelGuardError(f"{out_dir}: is an input folder; the protected copies need a folder of their own")
    existing = next(folder for folder in (out_dir, *out_dir.parents) if folder.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PixelGuardError(f"{existing}: cannot write there (permission denied); choose another output folder")
    # Permission bits do not tell everything (root, read-only mounts, /proc): try a real file.
    try:
        handle, probe = tempfile.mkstemp(prefix=".pixelguard-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PixelGuardError(f"{existing}: cannot create a file there ({reason.lower()}); "
                              "choose another output folder") from None


def give_distinct_names(jobs: list[Job]) -> list[Job]:
    """Give inputs that would share an output name (pic.gif and pic.png -> pic.png) names of
    their own: the first keeps it, the others get their source format in the name (pic-gif.png).
    Names are compared ignoring case, as on macOS and Windows file systems."""
    taken = {str(job.output).casefold() for job in jobs}
    claimed: set[str] = set()
    for job in jobs:
        key = str(job.output).casefold()
        if key not in claimed:
            claimed.add(key)
            continue
        stem = f"{job.output.stem}-{job.input.suffix.lstrip('.').lower() or 'copy'}"
        candidate, number = job.output.with_name(f"{stem}{job.output.suffix}"), 2
        while str(candidate).casefold() in taken:
            candidate, number = job.output.with_name(f"{stem}-{number}{job.output.suffix}"), number + 1
        job.notes.append(f"saved as {candidate.name}: another input is also named {job.output.name}")
        job.output = candidate
        taken.add(str(candidate).casefold())
        claimed.add(str(candidate).casefold())
    return jobs


def settings_digest(settings: ProtectSettings) -> str:
    """Identifies the settings that decide a protection (where it ran does not)."""
    chosen = {key: value for key, value in asdict(settings).items() if key != "device"}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Manifest:
    """What runs into one output folder protected: output path (relative) -> verdict and hashes."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST_NAME
        self.entries: dict[str, dict] = self._read()

    def _read(self) -> dict[str, dict]:
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or damaged: nothing counts as done
            return {}
        if not isinstance(content, dict) or content.get("version") != _MANIFEST_VERSION:
            return {}
        photos = content.get("photos")
        return photos if isinstance(photos, dict) else {}

    def _key(self, output: Path) -> str:
        return Path(os.path.relpath(output, self.folder)).as_posix()

    def lists_as_protected(self, output: Path) -> bool:
        """Whether an earlier run wrote `output` as protected (a quick look: hashes are checked when
        a batch resumes)."""
        entry = self.entries.get(self._key(output))
        return bool(entry) and entry.get("status") == Outcome.PROTECTED and output.is_file()

    def earlier_protection(self, job: Job, settings: ProtectSettings) -> ProtectionRecord | None:
        """The earlier record of `job` when it was protected from this same input and its output
        is still the file that run verified; None otherwise."""
        entry = self.entries.get(self._key(job.output))
        if not entry or entry.get("status") != Outcome.PROTECTED or not job.output.is_file():
            return None
        try:
            unchanged = (sha256_file(job.input) == entry.get("input_sha256")
                         and sha256_file(job.output) == entry.get("output_sha256"))
        except OSError:
            return None
        if not unchanged:
            return None
        record = ProtectionRecord.from_dict(entry["record"])
        record.resumed = True
        same = entry.get("settings") == settings_digest(settings)
        record.verdict = f"{record.verdict} (in an earlier run{'' if same else ', with other settings'})"
        return record

    def remember(self, job: Job, record: ProtectionRecord, settings: ProtectSettings) -> None:
        """Record a finished photo and write the manifest atomically."""
        entry = {"input": str(job.input), "status": record.status, "settings": settings_digest(settings),
                 "record": record.to_dict()}
        try:
            entry["input_sha256"] = sha256_file(job.input)
            if record.status == Outcome.PROTECTED and record.output:
                entry["output_sha256"] = sha256_file(record.output)
        except OSError:
            pass
        self.entries[self._key(job.output)] = entry
        document = {"version": _MANIFEST_VERSION, "photos": self.entries}
        write_atomically(self.path, json.dumps(document, indent=1).encode("utf-8"))


@contextmanager
def output_folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on an output folder, so two runs never write it at once.

    The operating system drops the lock when the process ends, even when it is killed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_NAME, "a+b")
    try:
        try:
            _lock(handle)
        except OSError:
            raise PixelGuardError(f"{folder}: another PixelGuard run is writing there; wait for it to finish "
                                  "or choose another output folder") from None
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        handle.close()


if os.name == "nt":
    import msvcrt

    def _lock(handle) -> None:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def output_root(jobs: list[Job]) -> Path:
    """The folder that holds every job's output (the batch's output folder)."""
    return Path(os.path.commonpath([str(job.output.parent) for job in jobs]))


def protect_batch(
    jobs: list[Job],
    protector: Protector,
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    keep_failed: bool = False,
    max_pixels: int | None = None,
    out_dir: str | Path | None = None,
    on_start: Callable[[int, Job], None] | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[ProtectionRecord]:
    """Protect each job in turn, writing each protected photo as soon as it is verified.

    A bad file, or an unexpected error in one photo, becomes an error record and the batch goes
    on. With skip_existing, photos an earlier run protected (per the manifest, outputs
    unchanged) come back as that run's records, marked resumed. should_stop() is asked before
    each photo and during the attack; cancellation (AttackCancelled, KeyboardInterrupt)
    propagates, and everything finished before it is on disk and in the manifest. The manifest
    and lock live in out_dir (default: the folder that holds all outputs).
    """
    if not jobs:
        return
    root = Path(out_dir) if out_dir is not None else output_root(jobs)
    with output_folder_lock(root):
        remove_stale_temporaries(root)  # left by a killed run; the lock says none is writing now
        manifest = Manifest(root)
        for index, job in enumerate(jobs):
            if should_stop is not None and should_stop():
                return
            if on_start is not None:
                on_start(index, job)
            record = _protect_job(job, protector, manifest, overwrite, skip_existing, keep_failed, max_pixels,
                                  on_iteration, should_stop)
            if not record.resumed:
                manifest.remember(job, record, protector.settings)
            yield record


def _protect_job(job, protector, manifest, overwrite, skip_existing, keep_failed, max_pixels, on_iteration,
                 should_stop) -> ProtectionRecord:
    if job.output.exists() and not overwrite:
        earlier = manifest.earlier_protection(job, protector.settings) if skip_existing else None
        if earlier is not None:
            return earlier
        reason = ("already exists and is not this photo's verified copy from an earlier run; use --overwrite "
                  "to replace it" if skip_existing else "already exists; use --overwrite or --skip-existing")
        return ProtectionRecord(input=str(job.input), status=Outcome.ERROR, error=f"{job.output} {reason}",
                                notes=list(job.notes))
    try:
        source = imageio.load_image(job.input, max_pixels)
        source.notes[:0] = job.notes
        return protector.protect_image(source, job.output, overwrite=overwrite, keep_failed=keep_failed,
                                       on_iteration=on_iteration, should_stop=should_stop)
    except PixelGuardError as error:
        message = str(error)
    except MemoryError:
        message = (f"not enough memory to protect this photo; try a smaller copy, or lower --max-pixels "
                   f"(now {imageio.max_pixels_limit(max_pixels) / 1e6:.0f} MP) to refuse such photos up front")
    except (ArithmeticError, LookupError, OSError, RuntimeError, TypeError, ValueError) as error:
        # A defect, not the user's doing: this photo fails, the batch goes on.
        message = f"unexpected error ({type(error).__name__}: {error}); please report it"
    return ProtectionRecord(input=str(job.input), status=Outcome.ERROR, error=message, notes=list(job.notes))
