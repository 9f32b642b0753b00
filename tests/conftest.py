"""Shared fixtures. Tests never touch the user's real cache: PIXELGUARD_HOME points at a temp dir."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# The shared read-only material (photos, label files) sits next to the repository checkout.
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def isolated_pixelguard_home(tmp_path_factory):
    """Point PIXELGUARD_HOME at an empty session temp dir for the whole run."""
    home = tmp_path_factory.mktemp("pixelguard-home")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("PIXELGUARD_HOME", str(home))
    yield home
    patcher.undo()


@pytest.fixture
def shared_dir() -> Path:
    """The shared data folder; the test is skipped where it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared material not found at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture
def photos(shared_dir) -> list[Path]:
    """Every real photo in the shared photos folder."""
    files = sorted(path for path in (shared_dir / "photos").iterdir() if not path.name.startswith("LICENSE"))
    if not files:
        pytest.skip("no shared photos")
    return files


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty PIXELGUARD_HOME for one test (for tests that download into the cache)."""
    home = tmp_path / "pixelguard-home"
    monkeypatch.setenv("PIXELGUARD_HOME", str(home))
    return home


@pytest.fixture
def without_bundled_data(tmp_path, monkeypatch) -> None:
    """Hide the data packs shipped in the package, for tests of the cache and download path."""
    from pixelguard.models import datapacks

    monkeypatch.setattr(datapacks, "BUNDLED_DATA", tmp_path / "no-bundled-data")


@pytest.fixture
def seeded_cache(shared_dir, tmp_path, monkeypatch) -> Path:
    """A fresh PIXELGUARD_HOME with every data pack copied (and verified) from shared/data."""
    from pixelguard.models.datapacks import DATA_PACKS, seed_cache_from

    home = tmp_path / "pixelguard-home"
    monkeypatch.setenv("PIXELGUARD_HOME", str(home))
    seeded = seed_cache_from(shared_dir / "data")
    assert sorted(seeded) == sorted(DATA_PACKS)
    return home


@dataclass
class FileServer:
    """What the local HTTP server serves, and what it was asked for."""

    base_url: str
    files: dict[str, bytes] = field(default_factory=dict)
    truncate_at: dict[str, int] = field(default_factory=dict)  # send only this many body bytes
    ranges: bool = True  # honour "Range: bytes=N-" with 206 answers
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


class _FileHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        served: FileServer = self.server.served
        requested_range = self.headers.get("Range")
        served.requests.append((self.path, requested_range))
        data = served.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if requested_range and served.ranges:
            start = int(requested_range.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: served.truncate_at.get(self.path, len(body))])

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    """A local HTTP server on 127.0.0.1 (ephemeral port) serving FileServer.files."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FileHandler)
    server.served = FileServer(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server.served
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails, as on a machine that is offline."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test: offline)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens, to stand for being offline."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/missing.bin"
