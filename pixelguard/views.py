"""Views: what happens to a photo on its way to a classifier.

A platform does not run PixelGuard's pipeline. It re-encodes and shrinks the upload, then its
classifier resizes the photo with its own library and kernel and crops it. A `View` is one such
step, named, with two implementations of the same thing:

- `apply(images)`: torch, differentiable, (B,3,H,W) in [0,1] -> (B,3,h,w), for optimisation.
  Real encoders sit in the forward pass with an identity gradient (straight-through, BPDA:
  Athalye, Carlini, Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018,
  arXiv:1802.00420).
- `exact(rgb)`: HxWx3 uint8 -> HxWx3 uint8 with the library a platform runs (Pillow, OpenCV,
  libjpeg, libwebp), for verification.

A `Route` is an upload (a chain of views) followed by a `ModelInput` (how the classifier makes
its input: resize kernel and library, shorter side, crop or whole-frame squash), stated
relative to the classifier's own input size so one route serves models of any input size.
`RouteSampler` draws routes for expectation over transformation (EOT: Athalye, Engstrom, Ilyas,
Kwok, "Synthesizing Robust Adversarial Examples", ICML 2018, arXiv:1707.07397) and `RoutedModel`
classifies a photo along several routes in one batch per network.

Example::

    >>> route = Route(upload=(Resize("long", 1080, "lanczos", "pillow"), Jpeg(75)),
    ...               model_input=ModelInput("bilinear", "pillow"))
    >>> route.name
    'pillow-lanczos long 1080 > jpeg75 > pillow-bilinear 256/224'
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from pixelguard.errors import PixelGuardError
from pixelguard.imageio import rgb_to_tensor, tensor_to_rgb

Kernel = Literal["nearest", "bilinear", "bicubic", "area", "lanczos"]
Library = Literal["torch", "pillow", "opencv"]
SizeRule = Literal["shorter", "long", "square"]

_PILLOW_KERNELS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}


class View(ABC):
    """One named transform of a photo, differentiable (`apply`) and exact (`exact`)."""

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [0,1] -> (B,3,h,w) in [0,1], differentiable."""

    @abstractmethod
    def exact(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> hxwx3 uint8, as the real library does it."""


def target_size(height: int, width: int, rule: SizeRule, size: int) -> tuple[int, int]:
    """(h, w) after a resize: 'shorter' sets the shorter side (torchvision's rounding), 'long'
    caps the long side (never upscales, as upload resizers do), 'square' sets both."""
    if rule == "square":
        return size, size
    if rule == "long":
        longest = max(height, width)
        if longest <= size:
            return height, width
        scale = size / longest
        return max(1, round(height * scale)), max(1, round(width * scale))
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


@dataclass(frozen=True)
class Resize(View):
    """A resize by one library's kernel. Pillow always antialiases (its filters widen with the
    scale); OpenCV's bilinear, bicubic and Lanczos do not (they sample a fixed 2x2, 4x4, 8x8
    neighbourhood), its area kernel averages; torch does as `antialias` says."""

    rule: SizeRule
    size: int
    kernel: Kernel = "bilinear"
    library: Library = "torch"
    antialias: bool = True  # torch only; Pillow and OpenCV behave as their kernels do

    @property
    def name(self) -> str:
        aliased = "" if self.library != "torch" or self.antialias or self.kernel == "area" else " aliased"
        return f"{self.library}-{self.kernel}{aliased} {self.rule} {self.size}"

    @property
    def _differentiable_antialias(self) -> bool:
        if self.library == "pillow":
            return True
        if self.library == "opencv":
            return False
        return self.antialias

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        size = target_size(*images.shape[-2:], self.rule, self.size)
        if size == tuple(images.shape[-2:]):
            return images
        return resize_tensor(images, size, self.kernel, self._differentiable_antialias)

    def exact(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        size = target_size(height, width, self.rule, self.size)
        if size == (height, width):
            return rgb
        if self.library == "pillow":
            return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), _PILLOW_KERNELS[self.kernel]))
        if self.library == "opencv":
            import cv2  # only verification needs OpenCV

            flags = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                     "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}
            return cv2.resize(np.ascontiguousarray(rgb), (size[1], size[0]), interpolation=flags[self.kernel])
        with torch.no_grad():
            return tensor_to_rgb(self.apply(rgb_to_tensor(rgb)[None])[0])


def resize_tensor(images: torch.Tensor, size: tuple[int, int], kernel: Kernel, antialias: bool) -> torch.Tensor:
    """Differentiable resize of (B,3,H,W). Lanczos has no torch kernel: the antialiased bicubic
    (same a = -0.5 family, narrower support) stands in for it in optimisation."""
    if kernel == "area":
        if size[0] <= images.shape[-2] and size[1] <= images.shape[-1]:
            return _area_shrink(_area_shrink(images, size[0], -2), size[1], -1)
        kernel = "bilinear"  # OpenCV's INTER_AREA enlarges bilinearly
    if kernel == "nearest":
        return F.interpolate(images, size=size, mode="nearest-exact")
    mode = "bicubic" if kernel in ("bicubic", "lanczos") else "bilinear"
    resized = F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=antialias)
    return resized.clamp(0, 1) if mode == "bicubic" else resized


def _area_shrink(images: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Shrink one axis by exact area averaging (OpenCV's INTER_AREA): each output pixel is the
    mean of the input it covers, partly covered pixels weighted by their overlap. Computed from
    the running sum at the footprint's fractional edges, so it costs O(H W) at any scale."""
    length = images.shape[dim]
    if size == length:
        return images
    scale = length / size
    running = F.pad(images.cumsum(dim), (1, 0) if dim == -1 else (0, 0, 1, 0))
    edges = torch.arange(size + 1, dtype=torch.float64, device=images.device) * scale
    whole = edges.floor().long().clamp_(max=length - 1)
    fraction = (edges - whole).to(images.dtype)
    shape = [1] * images.dim()
    shape[dim] = size + 1
    integral = running.index_select(dim, whole) + fraction.view(shape) * images.index_select(dim, whole)
    return integral.diff(dim=dim) / scale


@dataclass(frozen=True)
class Crop(View):
    """A size x size window; `position` places it in the free space (0.5, 0.5: centred, placed as
    torchvision's center_crop places it)."""

    size: int
    position: tuple[float, float] = (0.5, 0.5)

    @property
    def name(self) -> str:
        where = "centre" if self.position == (0.5, 0.5) else f"at {self.position[0]:.2f},{self.position[1]:.2f}"
        return f"crop {self.size} {where}"

    def _window(self, height: int, width: int) -> tuple[slice, slice]:
        if height < self.size or width < self.size:
            raise PixelGuardError(f"cannot crop {self.size} px from a {width}x{height} image")
        top = int(round((height - self.size) * self.position[0]))
        left = int(round((width - self.size) * self.position[1]))
        return slice(top, top + self.size), slice(left, left + self.size)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        rows, columns = self._window(*images.shape[-2:])
        return images[..., rows, columns]

    def exact(self, rgb: np.ndarray) -> np.ndarray:
        rows, columns = self._window(*rgb.shape[:2])
        return rgb[rows, columns]


def encode_decode(rgb: np.ndarray, **options) -> np.ndarray:
    """HxWx3 uint8 after a real encode and decode with Pillow's `save(**options)`."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


class _Codec(View):
    """A lossy codec: the real encoder in the forward pass, the identity in the backward pass."""

    @abstractmethod
    def options(self) -> dict:
        """Pillow save() options of the encoder."""

    def exact(self, rgb: np.ndarray) -> np.ndarray:
        return encode_decode(rgb, **self.options())

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        decoded = torch.stack([rgb_to_tensor(self.exact(tensor_to_rgb(image))) for image in images])
        return images + (decoded.to(images.device) - images).detach()


@dataclass(frozen=True)
class Jpeg(_Codec):
    """JPEG at `quality` with 4:2:0 chroma subsampling (what upload pipelines write).

    `gradient="kornia"` makes `apply` kornia's differentiable JPEG (Reich, Debus, Bräuer,
    "Differentiable JPEG: The Devil is in the Details", WACV 2024, arXiv:2309.06978) instead of
    the real encoder with a straight-through gradient (benchmarks/wild.py --jpeg-gradient)."""

    quality: int = 75
    subsampling: int = 2  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    gradient: Literal["straight-through", "kornia"] = "straight-through"

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        if self.gradient == "kornia":
            from kornia.enhance import jpeg_codec_differentiable  # optional: only this comparison needs it

            return jpeg_codec_differentiable(images, torch.tensor([float(self.quality)], device=images.device))
        return super().apply(images)

    @property
    def name(self) -> str:
        return f"jpeg{self.quality}" + ("" if self.subsampling == 2 else f" {('4:4:4', '4:2:2')[self.subsampling]}")

    def options(self) -> dict:
        return {"format": "JPEG", "quality": self.quality, "subsampling": self.subsampling}


@dataclass(frozen=True)
class WebP(_Codec):
    """Lossy WebP at `quality` (libwebp, 4:2:0)."""

    quality: int = 80

    @property
    def name(self) -> str:
        return f"webp{self.quality}"

    def options(self) -> dict:
        return {"format": "WEBP", "quality": self.quality}


def apply_chain(views: Sequence[View], images: torch.Tensor) -> torch.Tensor:
    for view in views:
        images = view.apply(images)
    return images


def exact_chain(views: Sequence[View], rgb: np.ndarray) -> np.ndarray:
    for view in views:
        rgb = view.exact(rgb)
    return rgb


@dataclass(frozen=True)
class ModelInput:
    """How a classifier turns a photo into its input, relative to its input size c:
    resize the shorter side to round(c * `ratio`) and crop c at `position`, or (`ratio` None)
    squash the whole frame to c x c."""

    kernel: Kernel = "bicubic"
    library: Library = "torch"
    ratio: float | None = 256 / 224  # torchvision's and TF's 256/224 (lite: (c + 32) / c)
    position: tuple[float, float] = (0.5, 0.5)
    antialias: bool = True

    def views(self, crop: int) -> tuple[View, ...]:
        if self.ratio is None:
            return (Resize("square", crop, self.kernel, self.library, self.antialias),)
        side = max(crop, round(crop * self.ratio))
        return (Resize("shorter", side, self.kernel, self.library, self.antialias), Crop(crop, self.position))

    @property
    def name(self) -> str:
        return " > ".join(view.name for view in self.views(224)).replace(" shorter 256 > crop 224 centre", " 256/224")


def own_model_input(preprocessing) -> ModelInput:
    """The classifier's own preprocessing (a registry Preprocessing) as a ModelInput."""
    ratio = None if preprocessing.resize_mode == "square" else preprocessing.resize / preprocessing.crop
    return ModelInput(preprocessing.interpolation, "torch", ratio)


@dataclass(frozen=True)
class Route:
    """One way to a classifier: the upload's views, then the model's input."""

    upload: tuple[View, ...] = ()
    model_input: ModelInput = field(default_factory=ModelInput)

    @property
    def name(self) -> str:
        return " > ".join([view.name for view in self.upload] + [self.model_input.name])

    def apply(self, images: torch.Tensor, crop: int) -> torch.Tensor:
        return apply_chain(self.model_input.views(crop), apply_chain(self.upload, images))

    def exact(self, rgb: np.ndarray, crop: int) -> np.ndarray:
        return exact_chain(self.model_input.views(crop), exact_chain(self.upload, rgb))


def network_input_size(classifier: nn.Module) -> int:
    preprocessing = getattr(classifier, "preprocessing", None)
    if preprocessing is None:
        raise PixelGuardError(f"model {getattr(classifier, 'name', '?')} has no preprocessing to vary; "
                              "robust protection needs a model with a known input size")
    return preprocessing.crop


def classifiers_of(model: nn.Module) -> list[nn.Module]:
    """The classifiers behind a model: an Ensemble's members, or the model itself."""
    members = getattr(model, "members", None)
    return list(members) if members is not None else [model]


class RoutedModel(nn.Module):
    """Logits (R, C) of one photo (1,3,H,W) along R routes; an ensemble's logits are averaged
    per route. Each network sees its R inputs as one batch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.labels = model.labels
        self.classifiers = classifiers_of(model)

    def forward(self, images: torch.Tensor, routes: Sequence[Route]) -> torch.Tensor:
        uploaded = {}
        logits = []
        for classifier in self.classifiers:
            crop = network_input_size(classifier)
            inputs = []
            for route in routes:
                if route.upload not in uploaded:
                    uploaded[route.upload] = apply_chain(route.upload, images)
                inputs.append(apply_chain(route.model_input.views(crop), uploaded[route.upload]))
            logits.append(classifier.classify_input(torch.cat(inputs)))
        return torch.stack(logits).mean(dim=0)


# The distribution robust protection optimises over: torch implementations of what uploads and
# classifiers do (the verification panel uses the real libraries instead).
UPLOAD_LONG_SIDES = (2048, 1080, 720)
JPEG_QUALITIES = (60, 95)
SHORTER_SIDE_RATIOS = (1.0, 320 / 224)  # shorter side 224..320 for a 224 input
SQUASH_PROBABILITY = 0.2
OFF_CENTRE_PROBABILITY = 0.4
UPLOAD_PROBABILITY = 0.6
JPEG_PROBABILITY = 0.6
JPEG_GRADIENT = "straight-through"  # or "kornia" (measured in README "Where the photo goes")


class RouteSampler:
    """Random routes: no upload or a downscale to 2048/1080/720 px, then JPEG 60-95 (4:2:0) or
    none; bilinear/bicubic/area, antialiased or not, shorter side 224-320 (for 224), centred or
    off-centre crop, or the whole frame squashed. Seeded, so a protection can be repeated."""

    def __init__(self, seed: int = 0):
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def _choice(self, options: Sequence):
        return options[int(torch.randint(len(options), (), generator=self.generator))]

    def sample(self) -> Route:
        upload: list[View] = []
        if self._uniform() < UPLOAD_PROBABILITY:
            upload.append(Resize("long", self._choice(UPLOAD_LONG_SIDES), self._choice(("bilinear", "bicubic", "area"))))
        if self._uniform() < JPEG_PROBABILITY:
            low, high = JPEG_QUALITIES
            quality = int(low + (high - low + 1) * self._uniform()) if high > low else low
            upload.append(Jpeg(quality, gradient=JPEG_GRADIENT))
        kernel = self._choice(("bilinear", "bicubic", "area"))
        antialias = self._uniform() < 0.5
        if self._uniform() < SQUASH_PROBABILITY:
            model_input = ModelInput(kernel, "torch", None, antialias=antialias)
        else:
            low, high = SHORTER_SIDE_RATIOS
            ratio = low + (high - low) * self._uniform()
            position = (0.5, 0.5)
            if self._uniform() < OFF_CENTRE_PROBABILITY:
                position = (self._uniform(), self._uniform())
            model_input = ModelInput(kernel, "torch", ratio, position, antialias)
        return Route(tuple(upload), model_input)

    def sample_many(self, count: int) -> list[Route]:
        return [self.sample() for _ in range(count)]

