"""`pixelguard threshold-map IMAGE -o OUT.png [--raw OUT.npy] [--window N] [--sigma S] [--device D]`.

Writes the colour-variance threshold map of an image as a viridis heat map PNG of the same pixel
size (dark: flat, the perturbation budget is small; bright: busy, it is large), and optionally
the exact float32 map (values in [0,1]) as a NumPy .npy file. Outputs are written atomically,
never over the input, and over an existing file only with --overwrite.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from pixelguard.cli.commands import add_command_parser
from pixelguard import imageio
from pixelguard.atomic import write_atomically
from pixelguard.cli.common import add_max_pixels_argument
from pixelguard.devices import DEVICE_CHOICES, resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.threshold import colour_variance_map, heat_map_image


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "threshold-map",
        description=(
            "Write the colour-variance threshold map (CIEDE2000 over each pixel's neighbourhood) "
            "as a heat map: bright where the photo is busy and may change more, dark where it is flat."
        ),
    )
    parser.add_argument("image", metavar="IMAGE", help="the photo")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png", help="heat map to write (PNG)")
    parser.add_argument("--raw", metavar="OUT.npy", help="also write the exact float32 map, values in [0,1]")
    parser.add_argument("--window", type=int, default=5, help="odd neighbourhood size, at least 3 (default: 5)")
    parser.add_argument("--sigma", type=float, default=1.0, help="Gaussian weight's sigma in pixels (default: 1.0)")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} (default: auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_max_pixels_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    raw_output = Path(args.raw) if args.raw else None
    if output.suffix.lower() != ".png":
        raise PixelGuardError(f"{output}: the heat map is written as PNG; give the output a .png name")
    if raw_output is not None and imageio.same_file(raw_output, output):
        raise PixelGuardError("--raw and -o name the same file")
    for destination in filter(None, (output, raw_output)):
        imageio.check_destination(destination, Path(args.image), args.overwrite)
    device = resolve_device(args.device)

    photo = imageio.load_image(args.image, args.max_pixels)
    imageio.check_processable(photo)
    cv_map = colour_variance_map(imageio.rgb_to_tensor(photo.rgb).to(device), args.window, args.sigma)

    _write(output, _png_bytes(heat_map_image(cv_map)))
    print(f"wrote {output} ({photo.size[0]}x{photo.size[1]})")
    if raw_output is not None:
        _write(raw_output, _npy_bytes(cv_map.float().cpu().numpy()))
        print(f"wrote {raw_output}")
    return 0


def _png_bytes(rgb: np.ndarray) -> bytes:
    stream = io.BytesIO()
    Image.fromarray(rgb).save(stream, format="PNG")
    return stream.getvalue()


def _npy_bytes(values: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.save(stream, values)
    return stream.getvalue()


def _write(destination: Path, data: bytes) -> None:
    try:
        write_atomically(destination, data)
    except OSError as error:
        raise imageio.OutputError(f"{destination}: cannot write the file ({error.strerror or error})") from error
