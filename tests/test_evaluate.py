"""`pixelguard evaluate`."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelguard import imageio
from pixelguard.cli import main
from pixelguard.evaluate import evaluate_model, pair_files, upload_transforms
from test_protect import textured_photo
from toy_models import ToyClassifier


def jpeg_reference(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def test_pairs_by_relative_path_even_when_the_format_changed(tmp_path):
    originals, protected = tmp_path / "in", tmp_path / "out"
    for folder in (originals / "sub", protected / "sub"):
        folder.mkdir(parents=True)
    for name in ("a.png", "b.jpg", "sub/c.png"):
        Image.fromarray(textured_photo(1)).save(originals / name)
    for name in ("a.png", "b.png", "sub/c.NOT-PROTECTED.png", "extra.png"):
        Image.fromarray(textured_photo(2)).save(protected / name)
    pairs, unpaired = pair_files(originals, protected)
    # A copy kept with --keep-failed is judged too, under its telling name.
    assert sorted((o.relative_to(originals).as_posix(), p.relative_to(protected).as_posix()) for o, p in pairs) == [
        ("a.png", "a.png"), ("b.jpg", "b.png"), ("sub/c.png", "sub/c.NOT-PROTECTED.png")]
    assert unpaired == [protected / "extra.png"]
    assert pair_files(originals / "a.png", protected / "a.png") == ([(originals / "a.png", protected / "a.png")], [])


def test_upload_transforms_are_the_real_encoders():
    rgb = textured_photo(3, size=(200, 120))
    transforms = upload_transforms(jpeg=70, resize=100)
    assert list(transforms) == ["saved", "jpeg70", "resize100"]
    assert np.array_equal(transforms["jpeg70"](rgb), jpeg_reference(rgb, 70))
    expected = np.asarray(Image.fromarray(rgb).resize((100, 60), Image.Resampling.LANCZOS))
    assert np.array_equal(transforms["resize100"](rgb), expected)
    assert transforms["saved"](rgb) is rgb
    assert upload_transforms(resize=500)["resize500"](rgb) is rgb  # never upscales


def test_evaluate_counts_evasion_against_a_reference(tmp_path):
    model = ToyClassifier()
    originals, protected = tmp_path / "in", tmp_path / "out"
    originals.mkdir(), protected.mkdir()
    photos = {f"p{seed}.png": textured_photo(seed) for seed in range(1, 7)}
    swapped = list(photos.values())[1:] + list(photos.values())[:1]  # each "protected" copy is another photo
    for (name, rgb), other in zip(photos.items(), swapped):
        Image.fromarray(rgb).save(originals / name)
        Image.fromarray(other).save(protected / name)
    pairs, _ = pair_files(originals, protected)
    rows = evaluate_model(model, pairs, upload_transforms(jpeg=75))
    assert [row.transform for row in rows] == ["saved", "jpeg75"]
    saved = rows[0]

    def logits(rgb):
        return model(imageio.rgb_to_tensor(rgb).unsqueeze(0))[0]

    truths = [int(logits(rgb).argmax()) for rgb in photos.values()]
    tops = [logits(rgb).topk(5).indices.tolist() for rgb in swapped]
    assert saved.pairs == 6
    assert saved.top1_evasion == pytest.approx(np.mean([t[0] != truth for t, truth in zip(tops, truths)]))
    assert saved.top5_evasion == pytest.approx(np.mean([truth not in t for t, truth in zip(tops, truths)]))
    assert 0 < saved.top1_evasion and saved.top5_evasion < 1  # both outcomes occur, so counting is tested
    assert saved.semantic_mismatch is None  # the toy's labels have no known hierarchy


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "in").mkdir(), (tmp_path / "out").mkdir()
    assert main(["evaluate", str(tmp_path / "in"), str(tmp_path / "out"), "--models", "efficientnet-lite2"]) == 2
    assert "no protected photo" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "in"), str(tmp_path / "missing"), "--models", "x"]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert main(["evaluate", "a", "b", "--models", "x", "--jpeg", "0"]) == 2
    assert "--jpeg" in capsys.readouterr().err


@pytest.mark.slow
def test_protect_transfer_then_evaluate_on_an_unseen_model(photos, seeded_cache, tmp_path, capsys):
    originals = tmp_path / "in"
    originals.mkdir()
    with Image.open(photos[0]) as photo:
        rgb = photo.convert("RGB")
        rgb.thumbnail((224, 224))
        rgb.save(originals / "photo.png")
    report = tmp_path / "report.json"
    assert main(["protect", str(originals), "-o", str(tmp_path / "out"), "--momentum", "1", "--ti", "--di", "--loss", "margin",
                 "--eot", "--views", "model", "--max-iter", "8",
                 "--confidence", "0.5", "--condition", "top1", "--device", "cpu", "-q", "--report", str(report),
                 "--keep-failed"]) in (0, 1)
    record = json.loads(report.read_text())[0]
    if not record["success"]:  # evaluate pairs by name; judge the unprotected copy all the same
        Path(record["output"]).rename(tmp_path / "out" / "photo.png")
    assert record["panel"] and all(isinstance(check["held"], bool) for check in record["panel"])
    capsys.readouterr()
    assert main(["evaluate", str(originals), str(tmp_path / "out"), "--models", "efficientnet-lite2",
                 "--jpeg", "75", "--resize", "1080", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 1
    assert [row["transform"] for row in result["results"]] == ["saved", "jpeg75", "resize1080"]
    for row in result["results"]:
        assert row["model"] == "efficientnet-lite2"
        assert row["top5_evasion"] <= row["top1_evasion"]
        assert row["semantic_mismatch"] in (0.0, 1.0)  # the ImageNet hierarchy is cached here
