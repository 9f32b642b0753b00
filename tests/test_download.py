"""The downloader against a local HTTP server: verification, resume, truncation, 404, cancellation."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from pixelguard.errors import DownloadError
from pixelguard.models.download import DownloadCancelled, download, file_matches, partial_path

PAYLOAD = os.urandom(700_000)  # a few 256 KiB chunks
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(file_server):
    file_server.files["/weights.bin"] = PAYLOAD
    return file_server


def test_good_file_is_verified_and_renamed_into_place(served, tmp_path):
    seen = []
    target = tmp_path / "models" / "weights.bin"
    result = download(
        served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256, progress=lambda d, t: seen.append((d, t))
    )
    assert result == target
    assert target.read_bytes() == PAYLOAD
    assert not partial_path(target).exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert file_matches(target, sha256=PAYLOAD_SHA256)


def test_sha256_prefix_pin(served, tmp_path):
    target = tmp_path / "weights.bin"
    download(served.url("/weights.bin"), target, sha256_prefix=PAYLOAD_SHA256[:8])
    assert target.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(served.url("/weights.bin"), tmp_path / "other.bin", sha256_prefix="00000000")


def test_a_pin_is_required(served, tmp_path):
    with pytest.raises(ValueError):
        download(served.url("/weights.bin"), tmp_path / "weights.bin")


def test_checksum_mismatch_deletes_the_file(served, tmp_path):
    target = tmp_path / "weights.bin"
    with pytest.raises(DownloadError, match="checksum mismatch.*deleted"):
        download(served.url("/weights.bin"), target, sha256=hashlib.sha256(b"something else").hexdigest())
    assert not target.exists()
    assert not partial_path(target).exists()


def test_404_is_a_clear_error(served, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(served.url("/nothing-here.bin"), tmp_path / "x.bin", sha256=PAYLOAD_SHA256)


def test_unreachable_host(closed_port_url, tmp_path):
    with pytest.raises(DownloadError, match="cannot reach"):
        download(closed_port_url, tmp_path / "x.bin", sha256=PAYLOAD_SHA256)


def test_truncated_transfer_is_reported_then_resumed(served, tmp_path):
    target = tmp_path / "weights.bin"
    served.truncate_at["/weights.bin"] = 300_000
    with pytest.raises(DownloadError, match="cut short"):
        download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256)
    assert not target.exists()
    assert partial_path(target).stat().st_size == 300_000
    served.truncate_at.clear()
    download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256)
    assert target.read_bytes() == PAYLOAD
    assert served.requests[-1] == ("/weights.bin", "bytes=300000-")


def test_resume_from_a_partial_file(served, tmp_path):
    target = tmp_path / "weights.bin"
    partial_path(target).write_bytes(PAYLOAD[:123_456])
    seen = []
    download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256, progress=lambda d, t: seen.append((d, t)))
    assert target.read_bytes() == PAYLOAD
    assert served.requests == [("/weights.bin", "bytes=123456-")]
    assert seen[0] == (123_456, len(PAYLOAD))


def test_server_without_ranges_restarts_from_zero(served, tmp_path):
    served.ranges = False
    target = tmp_path / "weights.bin"
    partial_path(target).write_bytes(b"stale bytes from some other file")
    download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256)
    assert target.read_bytes() == PAYLOAD


def test_partial_file_as_long_as_the_file_starts_over(served, tmp_path):
    target = tmp_path / "weights.bin"
    partial_path(target).write_bytes(os.urandom(len(PAYLOAD)))  # right length, wrong bytes: server says 416
    download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256)
    assert target.read_bytes() == PAYLOAD


def test_cancel_from_progress_keeps_the_partial_file_for_resuming(served, tmp_path):
    target = tmp_path / "weights.bin"
    with pytest.raises(DownloadCancelled):
        download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256, progress=lambda done, total: done == 0)
    assert not target.exists()
    kept = partial_path(target).stat().st_size
    assert 0 < kept < len(PAYLOAD)
    download(served.url("/weights.bin"), target, sha256=PAYLOAD_SHA256)
    assert target.read_bytes() == PAYLOAD
    assert served.requests[-1] == ("/weights.bin", f"bytes={kept}-")


def test_cancel_event(served, tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled, match="cancelled"):
        download(served.url("/weights.bin"), tmp_path / "weights.bin", sha256=PAYLOAD_SHA256, cancel=cancel)
    assert not (tmp_path / "weights.bin").exists()
