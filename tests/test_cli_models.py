"""`pixelguard models ...` and `pixelguard inspect ...` through the real CLI entry point."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from pixelguard.cli import main
from pixelguard.models import get_entry, model_status
from pixelguard.models.datapacks import DATA_PACKS, datapack_path
from pixelguard.models.registry import _registry


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


@pytest.fixture
def picture(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "picture.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_models_path_prints_the_cache_folder(capsys, empty_cache):
    assert run_cli(capsys, "models", "path") == (0, f"{empty_cache}\n", "")


@pytest.mark.parametrize("argv", [["models"], ["models", "list"]])
def test_models_list_table(capsys, empty_cache, argv):
    code, out, _ = run_cli(capsys, *argv)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["NAME", "TASK", "CLASSES", "INPUT", "LICENCE", "STATUS", "SIZE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {entry.name for entry in _registry().values()}
    assert rows["efficientnet-lite0"].split()[:4] == ["efficientnet-lite0", "single-label", "1000", "224px"]
    assert "installed" in rows["efficientnet-lite0"] and "19 MB" in rows["efficientnet-lite0"]
    assert "not-downloaded" in rows["places365-resnet18"] and "365" in rows["places365-resnet18"]


def test_models_download_with_progress_bar(capsys, empty_cache, file_server, monkeypatch):
    weights = os.urandom(300_000)
    entry = get_entry("places365-resnet18")
    file_server.files["/resnet18_places365.pth.tar"] = weights
    source = dataclasses.replace(
        entry.weights, url=file_server.url("/resnet18_places365.pth.tar"), sha256=hashlib.sha256(weights).hexdigest()
    )
    monkeypatch.setitem(_registry(), entry.name, dataclasses.replace(entry, weights=source))
    pack = DATA_PACKS["places365-categories"]
    categories = b"".join(f"/a/class_{i} {i}\n".encode() for i in range(365))
    file_server.files["/categories_places365.txt"] = categories
    served_pack = dataclasses.replace(
        pack, url=file_server.url("/categories_places365.txt"), sha256=hashlib.sha256(categories).hexdigest()
    )
    monkeypatch.setitem(DATA_PACKS, pack.name, served_pack)
    code, out, err = run_cli(capsys, "models", "download", "places365-resnet18")
    assert code == 0
    assert out.strip().endswith("resnet18_places365.pth.tar")
    assert "downloading places365-resnet18" in err and "100%" in err
    assert model_status("places365-resnet18") == "cached"
    assert datapack_path("places365-categories").read_bytes() == categories


def test_models_download_errors_are_one_line(capsys, empty_cache, closed_port_url, monkeypatch):
    code, _, err = run_cli(capsys, "models", "download", "places365-resnt18")
    assert code == 2
    assert err.startswith("pixelguard: error: unknown model 'places365-resnt18'; did you mean 'places365-resnet18'")
    entry = get_entry("resnet18")
    source = dataclasses.replace(entry.weights, url=closed_port_url)
    monkeypatch.setitem(_registry(), entry.name, dataclasses.replace(entry, weights=source))
    code, _, err = run_cli(capsys, "models", "download", "resnet18")
    assert code == 2 and err.startswith("pixelguard: error: cannot reach") and err.count("\n") == 1


def test_data_pack_download_by_name(capsys, empty_cache, file_server, monkeypatch, shared_dir):
    pack = DATA_PACKS["sun-attributes"]
    file_server.files["/labels_sunattribute.txt"] = (shared_dir / "data" / pack.relative_path).read_bytes()
    served_pack = dataclasses.replace(pack, url=file_server.url("/labels_sunattribute.txt"))
    monkeypatch.setitem(DATA_PACKS, pack.name, served_pack)
    code, out, _ = run_cli(capsys, "models", "download", "sun-attributes")
    assert code == 0 and out.strip() == f"sun-attributes: {datapack_path('sun-attributes')}"


def test_inspect_table(capsys, picture):
    code, out, err = run_cli(capsys, "inspect", str(picture), "--top", "3", "--device", "cpu")
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0] == f"{picture}  (efficientnet-lite0)"
    assert [line.split()[0] for line in lines[1:]] == ["1.", "2.", "3."]
    assert all(line.endswith("%") for line in lines[1:])


def test_inspect_json_batch_goes_on_past_bad_files(capsys, picture, tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("just text")
    missing = tmp_path / "missing.png"
    code, out, err = run_cli(capsys, "inspect", str(not_an_image), str(picture), str(missing), "--json", "--top", "4")
    records = json.loads(out)
    assert code == 1
    assert [record["input"] for record in records] == [str(not_an_image), str(picture), str(missing)]
    assert "error" in records[0] and "error" in records[2]
    predictions = records[1]["predictions"]
    assert len(predictions) == 4 and all(isinstance(label, str) for label, _ in predictions)
    probabilities = [p for _, p in predictions]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    error_lines = err.splitlines()
    assert len(error_lines) == 2 and all(line.startswith("pixelguard: error: ") for line in error_lines)
    assert "notes.jpg" in error_lines[0] and "missing.png" in error_lines[1]


def test_inspect_bad_options(capsys, picture):
    code, _, err = run_cli(capsys, "inspect", str(picture), "--model", "efficientnet-lite")
    assert code == 2 and "did you mean" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "inspect", str(picture), "--top", "0")
    assert code == 2 and "--top must be at least 1" in err
    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, "inspect", str(picture), "--device", "cuda")
        assert code == 2 and "CUDA is not available" in err


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_inspect_refuses_a_model_file_that_would_run_code(capsys, picture, tmp_path):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"fc.weight": _Marker(marker)}, protocol=2))
    code, out, err = run_cli(capsys, "inspect", str(picture), "--model", str(evil), "--arch", "resnet18")
    assert code == 2 and out == ""
    assert err.startswith("pixelguard: error: ") and "refused" in err and err.count("\n") == 1
    assert not marker.exists()


@pytest.mark.slow
def test_inspect_real_photos_with_the_default_model(capsys, photos):
    by_name = {path.stem: path for path in photos}
    code, out, _ = run_cli(capsys, "inspect", str(by_name["hot_dog"]), str(by_name["parrot"]), "--json")
    records = json.loads(out)
    assert code == 0
    assert records[0]["predictions"][0][0] == "hotdog" and records[0]["predictions"][0][1] > 0.5
    assert records[1]["predictions"][0][0] == "macaw"
