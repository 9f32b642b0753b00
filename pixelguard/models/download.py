"""Fetching pinned files over HTTP(S) with urllib: verified, resumable, cancellable, atomic.

Bytes go to `<destination>.part` in the destination folder; the finished file is checked
against its sha256 pin and only then renamed into place, so a half-written or tampered file
never sits under the real name. A `.part` left by an interrupted or cancelled transfer is
resumed with an HTTP Range request when the server supports it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from pixelguard import __version__
from pixelguard.errors import DownloadError

# progress(done_bytes, total_bytes or None); returning False (not None) cancels the download.
ProgressCallback = Callable[[int, Optional[int]], Optional[bool]]

CHUNK_BYTES = 256 * 1024
TIMEOUT_SECONDS = 30.0
FULL_DIGEST_LENGTH = 64


class DownloadCancelled(DownloadError):
    """The user stopped a download; the partial file is kept so a later run can resume it."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digest_matches(actual: str, sha256: str | None = None, sha256_prefix: str | None = None) -> bool:
    """Compare a hex digest with a full pin or with an explicit leading-digits pin."""
    if sha256 is not None:
        return actual == sha256.lower()
    if sha256_prefix is not None:
        return actual.startswith(sha256_prefix.lower())
    raise ValueError("a sha256 or sha256_prefix pin is required: PixelGuard never keeps an unverified download")


# (path, size, mtime, pin) of files already hashed in this process, so each is hashed once.
_verified: set[tuple[str, int, int, str]] = set()


def file_matches(path: Path, sha256: str | None = None, sha256_prefix: str | None = None) -> bool:
    """True when `path` exists and its sha256 matches the pin (memoised per size and mtime)."""
    if not path.is_file():
        return False
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, sha256 or sha256_prefix or "")
    if key in _verified:
        return True
    if not digest_matches(sha256_file(path), sha256, sha256_prefix):
        return False
    _verified.add(key)
    return True


def partial_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def download(
    url: str,
    destination: Path,
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Path:
    """Fetch `url` to `destination` and verify it; returns `destination`.

    Exactly one pin is needed: `sha256` (full digest) or `sha256_prefix` (leading hex digits,
    e.g. the ones torchvision puts in its file names). Raises DownloadError for HTTP errors,
    unreachable hosts, truncated transfers and checksum mismatches (the bad file is deleted),
    and DownloadCancelled when `cancel` is set or `progress` returns False.
    """
    if (sha256 is None) == (sha256_prefix is None):
        raise ValueError("give exactly one of sha256 / sha256_prefix")
    if sha256 is not None and len(sha256) != FULL_DIGEST_LENGTH:
        raise ValueError(f"sha256 pin must have {FULL_DIGEST_LENGTH} hex digits, got {sha256!r}")
    part = partial_path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        _transfer(url, part, progress, cancel, timeout)
        actual = sha256_file(part)
        if not digest_matches(actual, sha256, sha256_prefix):
            part.unlink(missing_ok=True)
            expected = sha256 or f"{sha256_prefix}..."
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; the file was deleted"
            )
        os.replace(part, destination)
    except http.client.IncompleteRead:
        raise DownloadError(f"the transfer of {url} was cut short; run the same command again to resume") from None
    except OSError as error:  # network errors were turned into DownloadError already: this is the disk
        raise DownloadError(f"cannot write {part}: {error.strerror or error}") from None
    return destination


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": f"pixelguard/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return None  # the partial file is already as long as the server's: start over
        reason = "not found" if error.code == 404 else (error.reason or "HTTP error")
        raise DownloadError(f"{url} could not be downloaded: HTTP {error.code} {reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot reach {url}: {reason}") from None


def _transfer(
    url: str,
    part: Path,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    timeout: float,
) -> None:
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset, timeout)
    if response is None:
        part.unlink()
        offset = 0
        response = _open(url, 0, timeout)
    with response:
        resumed = offset > 0 and response.status == 206 and _range_start(response) == offset
        if not resumed:
            offset = 0  # the server sent the whole file (or an unexpected range): rewrite from byte 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else None
        done = offset
        with open(part, "ab" if resumed else "wb") as stream:
            if progress is not None and progress(done, total) is False:
                raise DownloadCancelled(f"download of {url} cancelled")
            while True:
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled(f"download of {url} cancelled")
                try:
                    chunk = response.read(CHUNK_BYTES)
                except http.client.IncompleteRead as error:
                    stream.write(error.partial)
                    raise
                except OSError as error:
                    raise DownloadError(
                        f"the transfer of {url} failed ({error}); run the same command again to resume"
                    ) from None
                if not chunk:
                    break
                stream.write(chunk)
                done += len(chunk)
                if progress is not None and progress(done, total) is False:
                    raise DownloadCancelled(f"download of {url} cancelled")
    if total is not None and done < total:
        raise DownloadError(
            f"the transfer of {url} was cut short ({done} of {total} bytes); run the same command again to resume"
        )


def _range_start(response) -> int | None:
    """First byte of a 206 answer, from 'Content-Range: bytes START-END/TOTAL'."""
    content_range = response.headers.get("Content-Range", "")
    unit, _, span = content_range.partition(" ")
    start = span.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None
