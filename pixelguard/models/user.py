"""A user's own model: a TorchScript file, or a state_dict + architecture name + labels file.

State dicts are read with torch.load(weights_only=True), so a file that would run code when
unpickled is refused. TorchScript files are read with torch.jit.load; their code is TorchScript
(run by the TorchScript interpreter), not arbitrary Python.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from pixelguard.errors import PixelGuardError
from pixelguard.models.classifier import Classifier
from pixelguard.models.efficientnet_lite import VARIANTS
from pixelguard.models.networks import build_network, load_weights, read_state_dict
from pixelguard.models.registry import PREPROCESSING_CHOICES, Preprocessing, tensorflow_lite_preprocessing

MODEL_SUFFIXES = (".pt", ".pth", ".tar", ".ts", ".torchscript", ".ckpt")
PROBE_SIZE = 224


def looks_like_model_file(name: str) -> bool:
    """True for names that are paths rather than registry names."""
    return "/" in name or "\\" in name or name.lower().endswith(MODEL_SUFFIXES) or Path(name).is_file()


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zips with a constants.pkl; torch.save zips have only data.pkl."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") for name in archive.namelist())


def read_labels_file(path: Path) -> list[str]:
    """One label per line; blank lines are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PixelGuardError(f"cannot read labels file {path}: {error}") from None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise PixelGuardError(f"labels file {path} is empty")
    return labels


def _preprocessing_for(choice: str | None, architecture: str | None) -> Preprocessing | None:
    if choice is None:
        choice = "efficientnet-lite" if architecture in VARIANTS else "imagenet"
    if choice not in PREPROCESSING_CHOICES:
        raise PixelGuardError(f"unknown preprocessing '{choice}'; choose one of: {', '.join(PREPROCESSING_CHOICES)}")
    if choice == "efficientnet-lite" and architecture in VARIANTS:
        return tensorflow_lite_preprocessing(VARIANTS[architecture].image_size)
    return PREPROCESSING_CHOICES[choice]


def _classes_in_state_dict(state: dict[str, torch.Tensor], architecture: str) -> int:
    """Output classes, read from the weight of the architecture's final linear layer."""
    probe = build_network(architecture, num_classes=1000)
    final_name = [name for name, module in probe.named_modules() if isinstance(module, nn.Linear)][-1]
    weight = state.get(f"{final_name}.weight")
    if weight is None or weight.dim() != 2:
        raise PixelGuardError(f"the weights file has no '{final_name}.weight'; is it really a {architecture}?")
    return int(weight.shape[0])


def load_user_model(
    path: str | Path,
    *,
    architecture: str | None = None,
    labels: str | Path | None = None,
    preprocessing: str | None = None,
) -> Classifier:
    """A Classifier from a TorchScript file, or from a state_dict file with `architecture`.

    `labels` is a text file with one label per line (default: 'class 0', 'class 1', ...);
    `preprocessing` is one of PREPROCESSING_CHOICES (default: that of the architecture, else
    'imagenet').
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise PixelGuardError(f"model file {path} does not exist")
    settings = _preprocessing_for(preprocessing, architecture)
    label_names = read_labels_file(Path(labels)) if labels is not None else None
    if is_torchscript(path):
        if architecture is not None:
            raise PixelGuardError(f"{path} is a TorchScript model, which carries its own architecture; drop --arch")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch marks TorchScript deprecated; it still loads
                network = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as error:
            raise PixelGuardError(f"cannot load TorchScript model {path}: {str(error).strip().splitlines()[0]}") from None
        num_classes = _probe_classes(network, settings, path)
    else:
        state = read_state_dict(path, strip_prefix="module.", error=PixelGuardError)
        if architecture is None:
            raise PixelGuardError(
                f"{path} holds weights only; name its architecture with --arch (e.g. resnet50, efficientnet-lite0)"
            )
        try:
            num_classes = _classes_in_state_dict(state, architecture)
            network = build_network(architecture, num_classes)
        except PixelGuardError as error:
            raise PixelGuardError(str(error)) from None
        load_weights(network, state, str(path), error=PixelGuardError)
    if label_names is None:
        label_names = [f"class {index}" for index in range(num_classes)]
    if len(label_names) != num_classes:
        raise PixelGuardError(f"{labels} has {len(label_names)} labels but the model has {num_classes} outputs")
    return Classifier(network, label_names, settings, name=path.name)


def _probe_classes(network: nn.Module, settings: Preprocessing | None, path: Path) -> int:
    """Number of outputs, found by running the model once on a grey image."""
    size = settings.crop if settings else PROBE_SIZE
    probe = Classifier(network, [], settings).eval()
    try:
        with torch.no_grad():
            output = probe(torch.full((1, 3, size, size), 0.5))
    except Exception as error:  # a foreign model can fail in any way; report it in one line
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PixelGuardError(f"model {path} does not run on a (1,3,{size},{size}) image: {first_line}") from None
    if not isinstance(output, torch.Tensor) or output.dim() != 2 or output.shape[0] != 1:
        raise PixelGuardError(f"model {path} must return logits of shape (B, C)")
    return int(output.shape[1])
