"""Reading and writing photos: formats, orientation, colour modes, metadata policy, safe writes.

The policy in plain words is in the README's "Files and metadata"; keep the two in step.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from pixelguard.atomic import write_atomically
from pixelguard.errors import InputError, PixelGuardError

try:
    from pillow_heif import register_heif_opener
except ImportError:
    HEIC_SUPPORTED = False
else:
    register_heif_opener()
    HEIC_SUPPORTED = True

# Protecting needs about 1 GB plus 0.1 GB per megapixel (README "Speed and memory"), so 50 MP
# keeps one photo near 6 GB. PIXELGUARD_MAX_PIXELS or --max-pixels changes it.
DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_VARIABLE = "PIXELGUARD_MAX_PIXELS"
# Classifiers resize the shorter side to a few hundred pixels: a 100000x2 strip would become
# billions of pixels, and a photo under 16 px on a side holds nothing to protect.
MIN_SIDE = 16
MAX_ASPECT_RATIO = 20
OUTPUT_FORMATS = ("keep", "png", "jpeg", "webp", "tiff", "bmp")
METADATA_POLICIES = ("strip", "keep-safe", "keep")

# Only these decoders are tried (JPEG also yields MPO): Pillow's others (EPS runs Ghostscript,
# for one) are not for photos.
_READABLE_FORMATS = ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF"] + (
    ["HEIF"] if HEIC_SUPPORTED else []
)
SUPPORTED_FORMAT_NAMES = ("JPEG", "PNG", "WebP", "TIFF", "BMP", "GIF") + (("HEIC",) if HEIC_SUPPORTED else ())
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".dib", ".gif"}
    | {".heic", ".heif", ".hif"}
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}

# Output format -> Pillow writer, and the suffix a renamed output gets.
_WRITERS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF", "bmp": "BMP"}
_FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp"}
_FORMAT_BY_SUFFIX = {
    ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg", ".png": "png", ".webp": "webp",
    ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp", ".dib": "bmp",
}
# Input format (Pillow's name) -> output format for "keep"; others (HEIF, GIF) are written as PNG.
_KEEP_FORMATS = {
    "JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "TIFF": "tiff", "BMP": "bmp", "DIB": "bmp",
}

_BASE = ExifTags.Base
_EXIF_IFD = ExifTags.IFD.Exif
_GPS_IFD = ExifTags.IFD.GPSInfo
_INTEROP_IFD = ExifTags.IFD.Interop

# keep-safe: when and how the photo was taken; nothing that says who or where.
_SAFE_IFD0_TAGS = {_BASE.Make, _BASE.Model, _BASE.DateTime}
_SAFE_EXIF_TAGS = {
    _BASE.ExifVersion, _BASE.ColorSpace,
    _BASE.DateTimeOriginal, _BASE.DateTimeDigitized, _BASE.OffsetTime, _BASE.OffsetTimeOriginal,
    _BASE.OffsetTimeDigitized, _BASE.SubsecTime, _BASE.SubsecTimeOriginal, _BASE.SubsecTimeDigitized,
    _BASE.ExposureTime, _BASE.FNumber, _BASE.ExposureProgram, _BASE.ISOSpeedRatings,
    _BASE.ShutterSpeedValue, _BASE.ApertureValue, _BASE.BrightnessValue, _BASE.ExposureBiasValue,
    _BASE.MaxApertureValue, _BASE.MeteringMode, _BASE.LightSource, _BASE.Flash, _BASE.FocalLength,
    _BASE.FocalLengthIn35mmFilm, _BASE.ExposureMode, _BASE.WhiteBalance, _BASE.DigitalZoomRatio,
    _BASE.SceneCaptureType, _BASE.LensSpecification, _BASE.LensMake, _BASE.LensModel,
}
# keep: IFD0 tags that describe the source file's layout (or are carried separately: resolution,
# ICC) or are XMP/IPTC packets, which no policy writes.
_NOT_KEPT_IFD0_TAGS = {
    _BASE.ImageWidth, _BASE.ImageLength, _BASE.BitsPerSample, _BASE.Compression,
    _BASE.PhotometricInterpretation, _BASE.FillOrder, _BASE.StripOffsets, _BASE.SamplesPerPixel,
    _BASE.RowsPerStrip, _BASE.StripByteCounts, _BASE.XResolution, _BASE.YResolution,
    _BASE.PlanarConfiguration, _BASE.ResolutionUnit, _BASE.Predictor, _BASE.TileWidth,
    _BASE.TileLength, _BASE.TileOffsets, _BASE.TileByteCounts, _BASE.ExtraSamples, _BASE.SampleFormat,
    _BASE.SubIFDs, _BASE.JPEGTables, _BASE.JpegIFOffset, _BASE.JpegIFByteCount, _BASE.XMLPacket,
    _BASE.IPTCNAA, _BASE.ImageResources, _BASE.InterColorProfile,
}

_GREY_MODES = {"1", "L", "LA"}
_SIXTEEN_BIT_GREY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


class OutputError(PixelGuardError):
    """An output file cannot be written: would replace the input, no permission, disk full."""


class OutputExistsError(OutputError):
    """The output file already exists and overwrite was not asked for."""


# Written when neither the user nor the original says otherwise (a PNG saved as JPEG).
DEFAULT_JPEG_QUALITY = 90
# The IJG example luminance table (quality 50), to name a file's tables by the quality they match.
_IJG_LUMINANCE = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                  14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                  49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


@dataclass(frozen=True)
class JpegCompression:
    """How a JPEG was compressed: its quantisation tables and chroma subsampling (Pillow's 0/1/2).

    Writing a protected copy with the same tables and subsampling costs it no more than the
    original's own compression did, where a fixed quality re-quantises every block anew (ITU-T
    T.81, the JPEG standard: the quantisation tables travel in the file and decide the loss).
    """

    qtables: tuple[tuple[int, ...], ...]
    subsampling: int

    @property
    def quality_estimate(self) -> int:
        """The IJG quality whose scaled luminance table is closest on average to this file's."""
        scale = 100 * sum(q / ref for q, ref in zip(self.qtables[0], _IJG_LUMINANCE)) / len(_IJG_LUMINANCE)
        quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
        return int(min(100, max(1, round(quality))))

    def describe(self) -> str:
        return (f"the original's JPEG tables (about quality {self.quality_estimate}, "
                f"{_SUBSAMPLING_NAMES[self.subsampling]})")


def _jpeg_compression(image: Image.Image) -> JpegCompression | None:
    """The tables and subsampling of a three-component JPEG; None for any other file."""
    if image.format not in ("JPEG", "MPO") or image.mode not in ("RGB", "YCbCr"):
        return None
    tables = getattr(image, "quantization", None) or {}
    subsampling = JpegImagePlugin.get_sampling(image)
    if len(tables) < 2 or subsampling not in _SUBSAMPLING_NAMES:
        return None
    return JpegCompression(tuple(tuple(tables[index]) for index in sorted(tables)), subsampling)


@dataclass
class LoadedImage:
    """A decoded photo, upright, as 8-bit RGB plus what is needed to write it back."""

    rgb: np.ndarray  # HxWx3 uint8, EXIF orientation applied
    alpha: np.ndarray | None  # HxW uint8, carried to the output untouched
    path: Path
    format: str  # Pillow's format name, e.g. "JPEG", "MPO", "PNG"
    mode: str  # Pillow mode of the file before conversion, e.g. "L", "P", "CMYK", "I;16"
    size: tuple[int, int]  # (width, height) of rgb
    icc_profile: bytes | None  # an RGB profile describing rgb; non-RGB profiles are dropped
    exif: Image.Exif  # the original EXIF (Orientation as in the file), detached from the file
    dpi: tuple[float, float] | None
    orientation: int  # the file's EXIF orientation, 1..8, already applied to rgb
    notes: list[str] = field(default_factory=list)
    jpeg_compression: JpegCompression | None = None  # a JPEG's own tables, to write it back alike


def max_pixels_limit(requested: int | None = None) -> int:
    """The largest image, in pixels, to open: `requested`, else PIXELGUARD_MAX_PIXELS, else 50 MP."""
    if requested is not None:
        value, origin = requested, "--max-pixels"
    elif os.environ.get(MAX_PIXELS_VARIABLE, "").strip():
        origin = MAX_PIXELS_VARIABLE
        try:
            value = int(float(os.environ[MAX_PIXELS_VARIABLE]))
        except ValueError:
            raise PixelGuardError(f"{origin} must be a number of pixels, got {os.environ[MAX_PIXELS_VARIABLE]!r}") \
                from None
    else:
        return DEFAULT_MAX_PIXELS
    if value < 1:
        raise PixelGuardError(f"{origin} must be a positive number of pixels, got {value}")
    return value


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """Pillow's name for the format of the file's content ("JPEG", "PNG", ...), read from its
    header only; None when it is not a readable image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=_READABLE_FORMATS) as image:
                return image.format
    except Exception:  # unreadable files are reported when they are loaded
        return None


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> LoadedImage:
    """Decode an image file fully; any problem with the file raises InputError naming it.

    max_pixels: the size limit (default: max_pixels_limit())."""
    path = Path(path)
    max_pixels = max_pixels_limit(max_pixels)
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes)")
        with open(path, "rb") as handle:
            return _decode(handle, path, max_pixels)
    except PermissionError as error:
        raise InputError(f"{path}: cannot read the file (permission denied)") from error
    except OSError as error:
        raise InputError(f"{path}: cannot read the file ({error.strerror or error})") from error


def _decode(handle: BinaryIO, path: Path, max_pixels: int) -> LoadedImage:
    _let_pillow_open_up_to(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(handle, formats=_READABLE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(f"{path}: image is too large to open safely ({error}; the limit is set by --max-pixels "
                         f"or {MAX_PIXELS_VARIABLE})") from error
    except UnidentifiedImageError as error:
        raise InputError(_unidentified_message(handle, path)) from error
    except Exception as error:  # Pillow reports damaged headers with many exception types
        raise InputError(f"{path}: damaged or unreadable image file ({error})") from error

    width, height = image.size
    if width * height > max_pixels:
        raise InputError(
            f"{path}: image is too large ({width}x{height}, {width * height / 1e6:.0f} megapixels; the limit is "
            f"{max_pixels / 1e6:.0f} megapixels, set by --max-pixels or {MAX_PIXELS_VARIABLE})"
        )
    mode = image.mode
    # Before anything decodes the pixels (PNG's getexif may): decoding clears the tile list.
    sixteen_bit = mode in _SIXTEEN_BIT_GREY_MODES or ";16" in _raw_mode(image)
    notes: list[str] = []
    exif, orientation = _read_exif(image, notes)
    if getattr(image, "is_animated", False) and image.format != "MPO":
        notes.append("the file holds several frames or pages; only the first one is used")
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except Exception as error:  # truncated data, bad compressed stream, decoder errors
        raise InputError(f"{path}: image data is truncated or damaged ({error})") from error

    if orientation != 1:
        notes.append(f"EXIF orientation {orientation} applied: the pixels are stored upright")
    rgb, alpha = _to_rgb_and_alpha(upright, path, notes)
    if sixteen_bit:
        notes.append("16-bit image converted to 8 bits per channel for processing; output is 8-bit")
    icc_profile = _rgb_icc_profile(image.info.get("icc_profile"), notes)
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        path=path,
        format=image.format or "",
        mode=mode,
        size=(rgb.shape[1], rgb.shape[0]),
        icc_profile=icc_profile,
        exif=exif,
        dpi=_dpi(image.info.get("dpi"), swap=orientation >= 5),
        orientation=orientation,
        notes=notes,
        jpeg_compression=_jpeg_compression(image),
    )


def check_processable(image: LoadedImage) -> None:
    """InputError for sizes a classifier's resize cannot take in bounded memory, or too small to
    hold anything to protect; call it before a model or a threshold map sees the photo."""
    width, height = image.size
    path = image.path
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{path}: image is too small ({width}x{height}; at least {MIN_SIDE} pixels on each side)")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise InputError(f"{path}: image is too elongated ({width}x{height}; the longer side may be at most "
                         f"{MAX_ASPECT_RATIO} times the shorter)")


def _let_pillow_open_up_to(max_pixels: int) -> None:
    # Pillow refuses images over 2 x MAX_IMAGE_PIXELS (about 179 MP) before we see their size;
    # raise (never lower) that process-wide guard so our configurable limit is the one users meet.
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _unidentified_message(handle: BinaryIO, path: Path) -> str:
    handle.seek(0)
    header = handle.read(12)
    is_heif = header[4:8] == b"ftyp" and header[8:12] in _HEIF_BRANDS
    if is_heif or path.suffix.lower() in {".heic", ".heif", ".hif"}:
        return f"{path}: HEIC/HEIF images need an extra package: pip install pixelguard[heic]"
    return f"{path}: not an image, or not a supported format ({', '.join(SUPPORTED_FORMAT_NAMES)})"


def _read_exif(image: Image.Image, notes: list[str]) -> tuple[Image.Exif, int]:
    """The file's EXIF as a copy that outlives the open file, and its orientation (1 if unknown)."""
    detached = Image.Exif()
    try:
        detached.load(image.getexif().tobytes())
    except Exception:  # malformed EXIF must not make a readable photo unusable
        notes.append("EXIF data is damaged and was ignored")
        return Image.Exif(), 1
    orientation = detached.get(_BASE.Orientation, 1)
    return detached, orientation if orientation in range(1, 9) else 1


def _raw_mode(image: Image.Image) -> str:
    """The decoder's raw mode, which shows 16-bit samples that Pillow narrows to 8-bit RGB."""
    if not image.tile:
        return ""
    args = image.tile[0].args
    raw_mode = args[0] if isinstance(args, tuple) and args else args
    return raw_mode if isinstance(raw_mode, str) else ""


def _to_rgb_and_alpha(
    image: Image.Image, path: Path, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    mode = image.mode
    if mode in _SIXTEEN_BIT_GREY_MODES:
        levels = np.asarray(image).astype(np.float64)
        grey = np.clip(np.rint(levels / 257.0), 0, 255).astype(np.uint8)
        notes.append("greyscale image processed and saved as RGB")
        return np.repeat(grey[:, :, None], 3, axis=2), None
    if mode in _GREY_MODES:
        notes.append("greyscale image processed and saved as RGB")
        if mode == "1":
            notes.append("1-bit black-and-white image converted to 8 bits per channel")
    elif mode in {"P", "PA"}:
        notes.append("palette (indexed-colour) image converted to full RGB colour")
    elif mode == "CMYK":
        notes.append("CMYK image converted to RGB; output is RGB")
    elif mode not in {"RGB", "RGBA", "RGBX", "YCbCr"}:
        raise InputError(f"{path}: unsupported pixel format (Pillow mode {mode})")

    has_alpha = mode in {"LA", "PA", "RGBA"} or (mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return np.array(image.convert("RGB")), None
    pixels = np.asarray(image.convert("RGBA"))
    return np.ascontiguousarray(pixels[:, :, :3]), np.ascontiguousarray(pixels[:, :, 3])


def _rgb_icc_profile(profile: bytes | None, notes: list[str]) -> bytes | None:
    if not profile:
        return None
    colour_space = profile[16:20]  # ICC header: data colour space signature
    if colour_space == b"RGB ":
        return profile
    notes.append(
        f"the embedded {colour_space.decode('ascii', 'replace').strip()} colour profile does not "
        "describe RGB pixels and is not written to the output"
    )
    return None


def _dpi(dpi: Any, swap: bool) -> tuple[float, float] | None:
    try:
        x, y = (float(value) for value in dpi)
    except (TypeError, ValueError):
        return None
    if x <= 0 or y <= 0:
        return None
    return (y, x) if swap else (x, y)


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (3,H,W) float32 tensor in [0,1]."""
    # Arrays from PIL are read-only; torch wants writable memory (copied only when needed).
    return torch.from_numpy(np.require(rgb, requirements=["C", "W"])).permute(2, 0, 1).float().div(255.0)


def tensor_to_rgb(tensor: torch.Tensor) -> np.ndarray:
    """(3,H,W) or (1,3,H,W) float tensor in [0,1] -> HxWx3 uint8, clamped and rounded."""
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a (3,H,W) or (1,3,H,W) tensor, got shape {tuple(tensor.shape)}")
    levels = tensor.detach().float().clamp(0.0, 1.0).mul(255.0).round()
    return levels.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def canonical_format(requested: str) -> str:
    """A requested format ("keep", "JPG", "tiff", ...) in canonical lower case, or PixelGuardError."""
    name = _FORMAT_ALIASES.get(requested.lower(), requested.lower())
    if name != "keep" and name not in _WRITERS:
        choices = ", ".join(OUTPUT_FORMATS)
        raise PixelGuardError(f"unknown output format {requested!r}; choose one of {choices}")
    return name


def resolve_format(requested: str, source: LoadedImage) -> str:
    """The concrete output format ("png", "jpeg", "webp", "tiff" or "bmp") for a requested one:
    "keep" is the input's format, or "png" where that cannot be written faithfully."""
    name = canonical_format(requested)
    return _KEEP_FORMATS.get(source.format, "png") if name == "keep" else name


def is_lossy(format: str) -> bool:
    """Whether writing in this concrete format changes the pixels (only JPEG: WebP is lossless)."""
    return canonical_format(format) == "jpeg"


def encoder_options(format: str, jpeg_quality: int | None = None,
                    compression: JpegCompression | None = None) -> dict[str, Any]:
    """Pillow save() options (format included) that decide the written pixels; metadata aside,
    save_image writes exactly these, so a lossy round trip in memory predicts the file.

    JPEG: with `jpeg_quality` None, the original's `compression` where there is one (its tables
    and subsampling), else DEFAULT_JPEG_QUALITY; a chosen quality is written 4:4:4.
    """
    name = canonical_format(format)
    if name == "keep":
        raise ValueError("encoder_options needs a concrete format; use resolve_format first")
    options: dict[str, Any] = {"format": _WRITERS[name]}
    if name == "jpeg" and jpeg_quality is None and compression is not None:
        options.update(qtables=[list(table) for table in compression.qtables], subsampling=compression.subsampling)
    elif name == "jpeg":
        # 4:4:4: chroma subsampling would average colour over 2x2 blocks and wipe out much of the
        # perturbation's per-pixel colour detail, weakening the protection.
        options.update(quality=jpeg_quality or DEFAULT_JPEG_QUALITY, subsampling=0)
    elif name == "webp":
        # Lossless so the perturbation is stored exactly; exact keeps RGB under transparent pixels.
        options.update(lossless=True, exact=True)
    # TIFF stays uncompressed: Pillow's libtiff encoders cannot write the EXIF and GPS sub-IFDs,
    # and deflate saves little on noisy, perturbed photos.
    return options


def jpeg_encoding(jpeg_quality: int | None, compression: JpegCompression | None) -> str:
    """In words, how encoder_options writes a JPEG, for the report."""
    if jpeg_quality is None and compression is not None:
        return compression.describe()
    return f"quality {jpeg_quality or DEFAULT_JPEG_QUALITY}, 4:4:4"


def output_path_for(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    format: str = "keep",
    relative_to: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the output of input_path goes: same name, under out_dir, in the same sub-folder of
    relative_to as the input when relative_to is given. The suffix changes when the written
    format differs from the name's: "keep" writes the format of the file's content (a JPEG named
    .heic becomes .jpg), and formats that cannot be written back (HEIC, GIF) become PNG."""
    input_path = Path(input_path)
    suffix = input_path.suffix.lower()
    output_format: str | None = canonical_format(format)
    if output_format == "keep":
        content = sniff_format(input_path)
        if content is not None:
            output_format = _KEEP_FORMATS.get(content, "png")
        elif suffix in IMAGE_SUFFIXES:  # unreadable: load_image reports it; name it by its suffix
            output_format = _FORMAT_BY_SUFFIX.get(suffix, "png")
        else:
            output_format = None  # unknown suffix: nothing to say about the format, keep the name
    if output_format is None or _FORMAT_BY_SUFFIX.get(suffix) == output_format:
        name = input_path.name
    else:
        name = input_path.with_suffix(_SUFFIXES[output_format]).name
    folder = Path(out_dir)
    if relative_to is not None:
        folder = folder / input_path.parent.relative_to(relative_to)
    return folder / name


@dataclass
class EncodedImage:
    """A photo encoded in memory exactly as it will be written: verify these bytes, then write them."""

    data: bytes
    format: str  # concrete output format: "png", "jpeg", "webp", "tiff" or "bmp"


def encode_image(
    rgb: np.ndarray,
    source: LoadedImage,
    format: str = "keep",
    jpeg_quality: int | None = None,
    metadata: str = "strip",
    notes: list[str] | None = None,
) -> EncodedImage:
    """Encode rgb (HxWx3 uint8) with source's alpha, colour profile and the chosen metadata.

    Plain-English notes about what could not be carried over (alpha in JPEG, metadata in BMP,
    format fallbacks) are appended to notes when given.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be an HxWx3 uint8 array, got {rgb.dtype} {rgb.shape}")
    if source.alpha is not None and source.alpha.shape != rgb.shape[:2]:
        raise ValueError(f"rgb is {rgb.shape[:2]} but the source alpha is {source.alpha.shape}")
    if metadata not in METADATA_POLICIES:
        choices = ", ".join(METADATA_POLICIES)
        raise PixelGuardError(f"unknown metadata policy {metadata!r}; choose one of {choices}")
    notes = [] if notes is None else notes
    output_format = resolve_format(format, source)
    if canonical_format(format) == "keep" and source.format not in _KEEP_FORMATS:
        notes.append(f"{source.format or 'this'} format cannot be written back faithfully; saved as PNG")
    image = Image.fromarray(rgb, "RGB")
    if source.alpha is not None:
        if output_format in {"jpeg", "bmp"}:  # Pillow and most viewers read 32-bit BMP as opaque
            notes.append(f"{output_format.upper()} cannot store transparency; the alpha channel was dropped")
        else:
            image.putalpha(Image.fromarray(source.alpha, "L"))
    options = encoder_options(output_format, jpeg_quality, source.jpeg_compression)
    options.update(_metadata_options(output_format, source, metadata, image.size, notes))
    try:
        return EncodedImage(_encode(image, options), output_format)
    except (OSError, ValueError) as error:
        raise OutputError(f"cannot encode the image as {output_format.upper()} ({error})") from error


def decode_image(encoded: EncodedImage, path: str | os.PathLike[str], max_pixels: int | None = None) -> LoadedImage:
    """Decode encoded bytes as load_image will decode them once written to `path`."""
    return _decode(io.BytesIO(encoded.data), Path(path), max_pixels_limit(max_pixels))


def write_image(
    path: str | os.PathLike[str], encoded: EncodedImage, source_path: str | os.PathLike[str], overwrite: bool = False
) -> Path:
    """Write encoded bytes atomically (temp file in the destination folder, fsync, rename).

    Never writes over the source file; an existing file raises OutputExistsError unless
    overwrite.
    """
    destination = Path(path)
    check_destination(destination, Path(source_path), overwrite)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(destination, encoded.data)
    except OSError as error:
        raise OutputError(f"{destination}: cannot write the file ({error.strerror or error})") from error
    return destination


def save_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    source: LoadedImage,
    format: str = "keep",
    jpeg_quality: int | None = None,
    metadata: str = "strip",
    overwrite: bool = False,
    notes: list[str] | None = None,
) -> Path:
    """encode_image, then write_image."""
    check_destination(Path(path), source.path, overwrite)
    encoded = encode_image(rgb, source, format, jpeg_quality, metadata, notes)
    return write_image(path, encoded, source.path, overwrite)


def check_destination(destination: Path, source_path: Path, overwrite: bool) -> None:
    """OutputError unless `destination` may be written: not a folder, not the input, not existing unless overwrite."""
    if destination.is_dir():
        raise OutputError(f"{destination}: is a folder, cannot write an image there")
    if same_file(destination, source_path):
        raise OutputError(f"{destination}: refusing to write over the input file")
    if destination.exists() and not overwrite:
        raise OutputExistsError(f"{destination}: already exists (use --overwrite to replace it)")


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file (or folder), existing or not."""
    if first.resolve() == second.resolve():
        return True
    # Hard links and case-insensitive file systems: different names, one file.
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _metadata_options(
    output_format: str, source: LoadedImage, metadata: str, size: tuple[int, int], notes: list[str]
) -> dict[str, Any]:
    exif = _exif_for_output(source.exif, metadata, size)
    options: dict[str, Any] = {}
    if source.dpi:
        options["dpi"] = source.dpi
    if output_format == "bmp":
        if source.icc_profile or exif:
            notes.append("BMP files cannot hold a colour profile or EXIF; they were not written")
        return options
    if source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if exif:
        options["exif"] = exif
    return options


def _exif_for_output(original: Image.Exif, metadata: str, size: tuple[int, int]) -> bytes | None:
    """EXIF bytes for the policy, or None. Orientation is never other than 1: pixels are upright.

    No policy writes the embedded thumbnail (IFD1) or maker notes: either can hold a preview of
    the unprotected photo.
    """
    if metadata == "strip":
        return None
    exif = Image.Exif()
    exif_ifd = original.get_ifd(_EXIF_IFD)
    if metadata == "keep-safe":
        ifd0 = {tag: value for tag, value in original.items() if tag in _SAFE_IFD0_TAGS}
        sub_ifd = {tag: value for tag, value in exif_ifd.items() if tag in _SAFE_EXIF_TAGS}
        gps_ifd: dict[int, Any] = {}
    else:
        ifd0 = {
            tag: value
            for tag, value in original.items()
            if tag not in _NOT_KEPT_IFD0_TAGS and tag not in (_EXIF_IFD, _GPS_IFD)
        }
        ifd0[_BASE.Orientation] = 1
        sub_ifd = {
            tag: value for tag, value in exif_ifd.items() if tag not in (_BASE.MakerNote, _INTEROP_IFD)
        }
        interop = original.get_ifd(_INTEROP_IFD)
        if interop:
            sub_ifd[_INTEROP_IFD] = interop
        if _BASE.ExifImageWidth in sub_ifd or _BASE.ExifImageHeight in sub_ifd:
            sub_ifd[_BASE.ExifImageWidth], sub_ifd[_BASE.ExifImageHeight] = size
        gps_ifd = original.get_ifd(_GPS_IFD)
    for tag, value in ifd0.items():
        exif[tag] = value
    if sub_ifd:
        exif[_EXIF_IFD] = sub_ifd
    if gps_ifd:
        exif[_GPS_IFD] = gps_ifd
    return exif.tobytes() if len(exif) else None


def _encode(image: Image.Image, options: dict[str, Any]) -> bytes:
    data = _encode_once(image, options)
    # Optimised Huffman tables save 5-10 %, but Pillow gives libjpeg's optimiser a buffer of one
    # byte per pixel, and larger output fails ("Suspension not allowed here"): optimise only
    # what already fits unoptimised.
    if options["format"] == "JPEG" and len(data) < image.width * image.height:
        data = _encode_once(image, {**options, "optimize": True})
    return data


def _encode_once(image: Image.Image, options: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return buffer.getvalue()


def iter_images(
    inputs: Iterable[str | os.PathLike[str]], recursive: bool = False,
    exclude: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[tuple[Path, Path | None]]:
    """Expand files and folders into (image path, base folder) pairs.

    A file named directly is yielded as is with base None (load_image reports it if it is not an
    image). A folder yields its image files by suffix, hidden ones skipped, sub-folders too when
    recursive, sorted, with the folder as base so outputs can mirror the folder structure.
    Each file is yielded once. Folders in `exclude` (an output folder inside an input folder) are
    not walked. An unreadable folder raises InputError.
    """
    seen: set[Path] = set()
    excluded = {Path(folder).resolve() for folder in exclude}
    for entry in inputs:
        entry = Path(entry)
        base = entry if entry.is_dir() else None
        found = [entry] if base is None else _images_in_folder(entry, recursive, excluded)
        for image_path in found:
            key = image_path.resolve()
            if key not in seen:
                seen.add(key)
                yield image_path, base


def _images_in_folder(folder: Path, recursive: bool, excluded: set[Path]) -> list[Path]:
    def fail(error: OSError) -> None:
        raise InputError(f"{error.filename}: cannot list the folder ({error.strerror or error})") from error

    found = []
    for root, folders, files in os.walk(folder, onerror=fail):
        folders[:] = [name for name in folders if not name.startswith(".")
                      and (Path(root) / name).resolve() not in excluded] if recursive else []
        found.extend(
            Path(root) / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found, key=lambda image_path: image_path.relative_to(folder).parts)
