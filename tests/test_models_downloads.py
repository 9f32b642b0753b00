"""Download-on-first-use models (Places365, torchvision), served from a local HTTP server.

The real checkpoints cannot be fetched in CI, so each test builds a file of the same layout
and points the registry entry at the local server, pinned to that file.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import pickle
import struct
import threading

import pytest
import torch
import torchvision.models
import torchvision.transforms.v2.functional as TF
from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

from pixelguard.errors import ModelUnavailableError
from pixelguard.models import DownloadCancelled, download_model, get_entry, load_model, model_status
from pixelguard.models.registry import _registry, cached_weights_path


class _OldStorage:
    def __init__(self, key: str, tensor: torch.Tensor):
        self.key, self.tensor = key, tensor.contiguous()


class _OldTensor:
    """Pickles as torch 0.2/0.3 did: torch._utils._rebuild_tensor(storage, offset, size, stride)."""

    def __init__(self, storage: _OldStorage):
        self.storage = storage

    def __reduce__(self):
        tensor = self.storage.tensor
        return (torch._utils._rebuild_tensor, (self.storage, 0, tuple(tensor.shape), tuple(tensor.stride())))


def csail_style_checkpoint(network: torch.nn.Module) -> bytes:
    """A checkpoint laid out like the 2017 CSAIL files: legacy (pre-zip) torch.save format, CUDA
    storages, v1 tensor rebuilds, 'module.' prefixes, no BatchNorm num_batches_tracked (added in 0.4)."""
    kept = {key: value for key, value in network.state_dict().items() if not key.endswith("num_batches_tracked")}
    storages = [_OldStorage(str(index), value) for index, value in enumerate(kept.values())]
    state_dict = collections.OrderedDict((f"module.{key}", _OldTensor(s)) for key, s in zip(kept, storages))
    cuda_storage = {torch.float32: torch.cuda.FloatStorage, torch.int64: torch.cuda.LongStorage}

    class LegacyPickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _OldStorage):
                return ("storage", cuda_storage[obj.tensor.dtype], obj.key, "cuda:0", obj.tensor.numel(), None)
            return None

    buffer = io.BytesIO()
    for header in (MAGIC_NUMBER, PROTOCOL_VERSION, {"protocol_version": PROTOCOL_VERSION, "little_endian": True}):
        pickle.dump(header, buffer, protocol=2)
    checkpoint = {"epoch": 90, "arch": "resnet18", "state_dict": state_dict, "best_prec1": 54.7}
    LegacyPickler(buffer, protocol=2).dump(checkpoint)
    pickle.dump([storage.key for storage in storages], buffer, protocol=2)
    for storage in storages:
        buffer.write(struct.pack("<q", storage.tensor.numel()) + storage.tensor.numpy().tobytes())
    return buffer.getvalue()


def serve_entry(monkeypatch, file_server, name: str, data: bytes, **pin) -> None:
    """Point registry entry `name` at the local server, pinned to `data` (full sha256 unless told)."""
    entry = get_entry(name)
    url_path = f"/{entry.weights.filename}"
    file_server.files[url_path] = data
    pin = pin or {"sha256": hashlib.sha256(data).hexdigest(), "sha256_prefix": None}
    weights = dataclasses.replace(entry.weights, url=file_server.url(url_path), **pin)
    monkeypatch.setitem(_registry(), name, dataclasses.replace(entry, weights=weights))


@pytest.fixture(scope="module")
def places_network():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=365).eval()


def test_places365_downloads_on_first_use_and_matches_the_official_pipeline(
    seeded_cache, file_server, monkeypatch, places_network
):
    serve_entry(monkeypatch, file_server, "places365-resnet18", csail_style_checkpoint(places_network))
    assert model_status("places365-resnet18") == "not-downloaded"
    seen = []
    model = load_model("places365-resnet18", progress=lambda done, total: seen.append((done, total)))
    assert model_status("places365-resnet18") == "cached"
    assert seen and seen[-1][0] == seen[-1][1]
    assert len(model.labels) == 365 and model.labels[52] == "bedroom"
    image = torch.rand(1, 3, 300, 420)
    # run_placesCNN_basic.py: Resize((256,256)), CenterCrop(224), ImageNet Normalize
    cropped = TF.center_crop(TF.resize(image, [256, 256], antialias=True), [224])
    reference_input = TF.normalize(cropped, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        torch.testing.assert_close(model(image), places_network(reference_input), atol=1e-4, rtol=1e-4)
    load_model("places365-resnet18")  # second load: from the cache, no new request
    assert len(file_server.requests) == 1


def test_places365_checkpoint_that_would_run_code_is_refused(seeded_cache, file_server, monkeypatch, tmp_path):
    marker = tmp_path / "marker"

    class Sneaky:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    buffer = io.BytesIO()
    torch.save({"state_dict": {}, "extra": Sneaky()}, buffer, _use_new_zipfile_serialization=False)
    serve_entry(monkeypatch, file_server, "places365-resnet18", buffer.getvalue())
    with pytest.raises(ModelUnavailableError, match="refused"):
        load_model("places365-resnet18")
    assert not marker.exists()


def test_offline_first_use_says_what_to_download_and_where(seeded_cache, closed_port_url, monkeypatch):
    entry = get_entry("places365-resnet50")
    url = closed_port_url.replace("missing.bin", entry.weights.filename)
    monkeypatch.setitem(
        _registry(), entry.name, dataclasses.replace(entry, weights=dataclasses.replace(entry.weights, url=url))
    )
    with pytest.raises(ModelUnavailableError) as caught:
        load_model("places365-resnet50")
    message = str(caught.value)
    assert message.startswith("model places365-resnet50 is not downloaded and the download failed (cannot reach")
    assert f"download {url} to {cached_weights_path(entry)}" in message
    assert str(cached_weights_path(entry)).endswith("models/resnet50_places365.pth.tar")
    assert "run `pixelguard models download places365-resnet50` when online" in message


def test_corrupt_cached_file_is_reported_and_replaced_by_download_model(
    seeded_cache, file_server, monkeypatch, places_network
):
    data = csail_style_checkpoint(places_network)
    serve_entry(monkeypatch, file_server, "places365-resnet18", data)
    path = cached_weights_path(get_entry("places365-resnet18"))
    path.parent.mkdir(parents=True)
    path.write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(ModelUnavailableError, match="do not match the pinned sha256"):
        load_model("places365-resnet18")
    assert download_model("places365-resnet18") == path
    assert path.read_bytes() == data


def test_cancelled_download_then_resumed(seeded_cache, file_server, monkeypatch, places_network):
    data = csail_style_checkpoint(places_network)
    serve_entry(monkeypatch, file_server, "places365-resnet18", data)
    cancel = threading.Event()

    def progress(done, total):
        if done > 1_000_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        load_model("places365-resnet18", progress=progress, cancel=cancel)
    assert model_status("places365-resnet18") == "not-downloaded"
    load_model("places365-resnet18")
    assert file_server.requests[-1][1].startswith("bytes=")


def test_torchvision_model_through_the_weights_api_with_its_hash_prefix(empty_cache, file_server, monkeypatch):
    torch.manual_seed(0)
    network = torchvision.models.mobilenet_v3_large(num_classes=1000).eval()
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    data = buffer.getvalue()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    serve_entry(monkeypatch, file_server, "mobilenet-v3-large", data, sha256=None, sha256_prefix=prefix)
    model = load_model("mobilenet-v3-large")
    assert model.labels[:2] == ["tench", "goldfish"]
    image = torch.rand(1, 3, 240, 320)
    with torch.no_grad():
        torch.testing.assert_close(model(image), network(model.preprocess(image)))
    # A file whose digest does not start with the pinned digits is refused.
    cached_weights_path(get_entry("mobilenet-v3-large")).unlink()
    serve_entry(monkeypatch, file_server, "mobilenet-v3-large", data, sha256=None, sha256_prefix="ffffffff")
    with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
        load_model("mobilenet-v3-large")
