"""`pixelguard inspect IMAGE... [--model NAME] [--top K] [--json] [--device ...]`: what a model sees.

A file that cannot be read is reported on stderr and skipped; the exit status is 1 when any
input failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

from pixelguard import imageio
from pixelguard.cli.models import add_model_options, model_from_args
from pixelguard.devices import DEVICE_CHOICES, resolve_device
from pixelguard.errors import InputError, PixelGuardError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a model's top predictions for images",
        description="Print a model's top-K labels for each image.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    add_model_options(parser)
    parser.add_argument("--top", type=int, default=5, metavar="K", help="how many labels to show (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON: [{input, predictions: [[label, prob], ...]}]")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} (default: auto)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise PixelGuardError(f"--top must be at least 1, got {args.top}")
    device = resolve_device(args.device)
    model = model_from_args(args, device)
    records = []
    failed = False
    for path in args.images:
        try:
            image = imageio.rgb_to_tensor(imageio.load_image(path).rgb).to(device)
        except InputError as error:
            print(f"pixelguard: error: {error}", file=sys.stderr)
            failed = True
            records.append({"input": path, "error": str(error)})
            continue
        predictions = model.top_k(image, args.top)[0]
        records.append({"input": path, "predictions": [[label, probability] for label, probability in predictions]})
        if not args.json:
            print_predictions(path, model.name, predictions)
    if args.json:
        print(json.dumps(records, indent=2))
    return 1 if failed else 0


def print_predictions(path: str, model_name: str, predictions: list[tuple[str, float]]) -> None:
    print(f"{path}  ({model_name})")
    width = max(len(label) for label, _ in predictions)
    for rank, (label, probability) in enumerate(predictions, start=1):
        print(f"  {rank:>2}. {label.ljust(width)}  {probability * 100:6.2f}%")
