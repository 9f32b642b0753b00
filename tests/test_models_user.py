"""A user's own model files: TorchScript, state_dict + architecture, and files that try to run code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
import torchvision.models
from torch import nn

from pixelguard.errors import PixelGuardError
from pixelguard.models import Classifier, load_model
from pixelguard.models.efficientnet_lite import EfficientNetLite
from pixelguard.models.registry import PREPROCESSING_CHOICES

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


class MarkerWriter:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class TinyNet(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


@pytest.fixture
def labels_file(tmp_path):
    def write(count: int):
        path = tmp_path / f"labels{count}.txt"
        path.write_text("\n".join(f"thing {i}" for i in range(count)) + "\n\n")
        return path

    return write


def test_torchscript_model_with_labels(tmp_path, labels_file):
    torch.manual_seed(0)
    scripted = torch.jit.script(TinyNet().eval())
    path = tmp_path / "tiny.pt"
    scripted.save(str(path))
    model = load_model(str(path), labels=labels_file(4), preprocessing="imagenet")
    assert isinstance(model, Classifier) and model.labels == [f"thing {i}" for i in range(4)]
    image = torch.rand(1, 3, 90, 120)
    expected = scripted(Classifier(nn.Identity(), [], PREPROCESSING_CHOICES["imagenet"]).preprocess(image))
    torch.testing.assert_close(model(image), expected)
    assert model.name == "tiny.pt"


def test_torchscript_without_labels_gets_numbered_classes(tmp_path):
    path = tmp_path / "tiny.ts"
    torch.jit.script(TinyNet(3)).save(str(path))
    model = load_model(str(path), preprocessing="none")
    assert model.labels == ["class 0", "class 1", "class 2"]
    assert model(torch.rand(2, 3, 40, 50)).shape == (2, 3)


def test_state_dict_with_torchvision_architecture(tmp_path, labels_file):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(num_classes=3).eval()
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}, "epoch": 3}, path)
    model = load_model(str(path), architecture="resnet18", labels=labels_file(3))
    image = torch.rand(1, 3, 256, 300)
    with torch.no_grad():
        expected = reference(model.preprocess(image))
        torch.testing.assert_close(model(image), expected)
    assert model.preprocessing == PREPROCESSING_CHOICES["imagenet"]
    assert model.classifier_weight.shape == (3, 512)


def test_state_dict_with_efficientnet_lite_architecture(tmp_path):
    path = tmp_path / "lite.pth"
    torch.save(EfficientNetLite("efficientnet-lite1", num_classes=5).state_dict(), path)
    model = load_model(str(path), architecture="efficientnet-lite1")
    assert model.preprocessing.crop == 240 and model.preprocessing.mean[0] == pytest.approx(127 / 255)
    assert model(torch.rand(1, 3, 100, 100)).shape == (1, 5)


def test_clear_errors_for_bad_combinations(tmp_path, labels_file):
    path = tmp_path / "weights.pth"
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), path)
    with pytest.raises(PixelGuardError, match="--arch"):
        load_model(str(path))
    with pytest.raises(PixelGuardError, match="has 4 labels but the model has 3 outputs"):
        load_model(str(path), architecture="resnet18", labels=labels_file(4))
    with pytest.raises(PixelGuardError, match="do not fit"):
        load_model(str(path), architecture="resnet34")
    with pytest.raises(PixelGuardError, match="unknown architecture"):
        load_model(str(path), architecture="resnet-9000")
    with pytest.raises(PixelGuardError, match="unknown preprocessing"):
        load_model(str(path), architecture="resnet18", preprocessing="magic")
    with pytest.raises(PixelGuardError, match="does not exist"):
        load_model(str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(PixelGuardError, match="not a readable PyTorch weights file|refused"):
        load_model(str(junk), architecture="resnet18")


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_file_that_would_run_code_is_refused(tmp_path, writer):
    marker = tmp_path / "marker-created"
    path = tmp_path / "evil.pt"
    payload = {"fc.weight": MarkerWriter(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(PixelGuardError) as caught:
        load_model(str(path), architecture="resnet18")
    message = str(caught.value)
    assert "refused" in message and "run code" in message and "\n" not in message
    assert "system" in message  # names what it tried to call
    assert not marker.exists()
