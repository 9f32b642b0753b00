"""Options more than one sub-command takes."""

from __future__ import annotations

import argparse

from pixelguard.imageio import DEFAULT_MAX_PIXELS, MAX_PIXELS_VARIABLE


def add_max_pixels_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help=f"refuse images over N pixels (default: {DEFAULT_MAX_PIXELS:,}, or "
                             f"{MAX_PIXELS_VARIABLE}); protecting needs about 1 GB plus 0.1 GB of memory per megapixel")
