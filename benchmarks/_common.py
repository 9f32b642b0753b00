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


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
