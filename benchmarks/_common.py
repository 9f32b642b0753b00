"""Shared helpers for the benchmark scripts (real photos from ../shared, markdown tables)."""

from __future__ import annotations

import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PHOTOS = SHARED / "photos"
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
