"""`pixelguard protect` and `pixelguard demo` with the real default model on small real photos."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from pixelguard.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def small_photos(shared_dir, tmp_path):
    """Two real photos, downscaled so a protection takes a second or two."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cat_720p.jpg", "grace_hopper.bmp"):
        with Image.open(shared_dir / "photos" / name) as photo:
            photo.thumbnail((320, 320))
            photo.save(folder / name)
    return folder


def test_protect_folder_writes_outputs_and_report(small_photos, tmp_path, capsys):
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    code = main(["protect", str(small_photos), "-o", str(out), "--report", str(report), "--max-iter", "40", "-q"])
    records = json.loads(report.read_text())
    assert code == (0 if all(r["status"] == "protected" for r in records) else 1)
    assert {r["input"].split("/")[-1] for r in records} == {"cat_720p.jpg", "grace_hopper.bmp"}
    for record in records:
        assert record["success"] == (record["status"] == "protected") == (
            record["own_pipeline"] and all(check["held"] for check in record["panel"]))
        if record["success"]:
            assert record["label"] not in [label for label, _ in record["after"]]
        for key in ("model", "method", "condition", "iterations", "seconds", "device", "before", "ssim", "psnr",
                    "delta_e_mean", "delta_e_max", "linf", "budget_used", "error"):
            assert key in record
    for record in records:  # only a protected photo is written under its name
        assert (out / record["input"].split("/")[-1]).exists() == (record["status"] == "protected")
    protected = sum(r["status"] == "protected" for r in records)
    assert (f"{protected} protected" if protected else "") in capsys.readouterr().out


def test_protect_batch_with_a_bad_file_goes_on_and_exits_nonzero(small_photos, tmp_path, capsys):
    (small_photos / "notes.jpg").write_text("this is not a photo")
    code = main(["protect", str(small_photos), "-o", str(tmp_path / "out"), "--max-iter", "40", "-q",
                 "--report", str(tmp_path / "r.csv")])
    captured = capsys.readouterr()
    assert code == 1
    assert "notes.jpg: error:" in captured.err and "Traceback" not in captured.err
    assert "cat_720p.jpg: " in captured.out  # the batch went on past the bad file
    assert "notes.jpg" in (tmp_path / "r.csv").read_text()


def test_missing_input_is_an_error_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pixelguard", "protect", "/nonexistent/photo.jpg", "-o",
                             str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr == "/nonexistent/photo.jpg: error: no such file\n"  # the path once, one line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["protect", "{photos}", "-o", "out", "--condition", "top5", "--strength", "0"], "--strength"),
    (["protect", "{photos}", "-o", "out", "--model", "efficientnet-lite9"], "did you mean"),
    (["protect", "{photos}", "-o", "out", "--report", "r.txt"], ".json or .csv"),
])
def test_bad_arguments_give_one_line_errors(small_photos, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{photos}", str(small_photos)) for a in args]
    result = subprocess.run([sys.executable, "-m", "pixelguard", *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_shows_the_verdict_and_the_held_out_checks(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "read back from the saved file" in out and "held-out checks" in out
    assert out.count("efficientnet-lite0 via ") == 4
    # The saved copy is named for what it is: protected, or written but not protected.
    lines = out.splitlines()
    assert any(line.startswith("protected: ") for line in lines) != any("NOT protected" in line for line in lines)
    written = [path.name for path in (tmp_path / "demo" / "protected").iterdir() if not path.name.startswith(".")]
    assert written in (["chelsea.png"], ["chelsea.NOT-PROTECTED.png"])
