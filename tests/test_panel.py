"""The held-out panel: independent code on the saved file decides "protected"."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pixelguard import imageio, perceptual
from pixelguard.attacks.conditions import NotInTopK
from pixelguard.cli import main
from pixelguard.models import load_model
from pixelguard.panel import PanelResult, verify_on_panel
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from test_views import tiny_classifier
from toy_models import paper_settings


def lite_input(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()[None]


def independent_panel(network, rgb: np.ndarray) -> dict[str, int]:
    """The panel's four checks for EfficientNet-Lite0 (256/224, TF normalisation), written here
    with Pillow and OpenCV directly: top-1 index per check."""
    def shorter_256(height, width):  # (width, height) with the shorter side 256, torchvision's rounding
        return (int(256 * width / height), 256) if width > height else (256, int(256 * height / width))

    def centre(pixels, crop=224):
        top, left = round((pixels.shape[0] - crop) / 2), round((pixels.shape[1] - crop) / 2)
        return pixels[top:top + crop, left:left + crop]

    def pillow_bilinear(pixels):
        return centre(np.asarray(Image.fromarray(pixels).resize(shorter_256(*pixels.shape[:2]), Image.Resampling.BILINEAR)))

    height, width = rgb.shape[:2]
    upload = Image.fromarray(rgb)
    if max(height, width) > 1080:
        upload = upload.resize((1080, round(1080 * height / width)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    upload.save(buffer, format="JPEG", quality=75)
    uploaded = np.asarray(Image.open(buffer).convert("RGB"))
    inputs = {
        "Pillow bilinear resize": pillow_bilinear(rgb),
        "OpenCV area resize": centre(cv2.resize(rgb, shorter_256(height, width), interpolation=cv2.INTER_AREA)),
        "whole frame (Pillow bicubic squash)": np.asarray(Image.fromarray(rgb).resize((224, 224), Image.Resampling.BICUBIC)),
        "upload (1080 px, JPEG q75)": pillow_bilinear(uploaded),
    }
    with torch.no_grad():
        return {name: int(network((lite_input(pixels) - 127) / 128)[0].argmax()) for name, pixels in inputs.items()}


def test_panel_matches_an_independent_implementation_on_a_real_photo(photos):
    model = load_model("efficientnet-lite0")
    rgb = imageio.load_image(next(p for p in photos if p.name == "kite_and_cold.jpg")).rgb
    expected = independent_panel(model.network, rgb)
    for label in sorted(set(expected.values())) + [0]:
        results = verify_on_panel([model], NotInTopK(label, k=1), rgb)
        assert [r.view for r in results] == list(expected)
        for result in results:
            assert result.top1 == model.labels[expected[result.view]], result.view
            assert result.held == (expected[result.view] != label), result.view


def test_a_protection_failing_one_held_out_check_is_not_protected(tmp_path, monkeypatch):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setattr("pixelguard.protect.verify_on_panel", lambda *args, **kwargs: [
        PanelResult("tiny", "Pillow bilinear resize", True, "class 1"),
        PanelResult("tiny", "upload (1080 px, JPEG q75)", False, "class 0")])
    protector = Protector(paper_settings(model="tiny", device="cpu", condition="top1", strength=64, l1=0),
                          model=tiny_classifier())
    record = next(protect_batch([Job(tmp_path / "a.png", tmp_path / "out.png")], protector))
    assert record.extra["own_pipeline"], record.verdict
    assert not record.success and record.status == "failed"
    assert record.verdict.endswith("but not on 1 of 2 held-out checks: upload (1080 px, JPEG q75) (tiny)")


@pytest.mark.slow
def test_default_protection_on_a_real_photo_holds_where_it_says_and_keeps_to_its_budget(photos, tmp_path):
    """The default settings end to end on a real 1.2 MP photo: the saved PNG never exceeds its
    CIEDE2000 allowance, pixels outside the centre crop change, and each panel verdict in the
    report is what independent code finds on the saved file."""
    source = next(p for p in photos if p.name == "kite_and_cold.jpg")
    report = tmp_path / "report.json"
    status = main(["protect", str(source), "-o", str(tmp_path / "out"), "--format", "png", "--device", "cpu", "-q",
                   "--report", str(report)])
    record = json.loads(report.read_text())[0]
    assert status == (0 if record["status"] == "protected" else 1)
    original = imageio.load_image(source).rgb
    saved = imageio.load_image(record["output"]).rgb
    image = imageio.rgb_to_tensor(original)
    allowance = perceptual.allowance_map(image, record["max_delta_e"])
    assert bool((perceptual.delta_e_map(image, imageio.rgb_to_tensor(saved)) <= allowance).all())
    # Whole frame: the model's own centre crop is a square of 224/256 of the shorter side (the
    # photo is landscape); the columns left and right of it change too.
    height, width = original.shape[:2]
    changed = np.abs(saved.astype(int) - original.astype(int)).sum(axis=2) > 0
    margin = (width - round(height * 224 / 256)) // 2
    assert changed[:, : margin - 8].mean() > 0.2 and changed[:, width - margin + 8:].mean() > 0.2
    label = load_model("efficientnet-lite0").labels.index(record["label"])
    expected = independent_panel(load_model("efficientnet-lite0").network, saved)
    from pixelguard.semantics import load_relation

    relation = load_relation("imagenet")
    for check in record["panel"]:
        assert check["top1"] == load_model("efficientnet-lite0").labels[expected[check["view"]]]
        if check["held"]:
            assert not relation.related(label, expected[check["view"]])
