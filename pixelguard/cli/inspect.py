"""`pixelguard inspect IMAGE... [--model NAME] [--top K] [--json] [--device ...]`: what a model sees.

A file that cannot be read is reported on stderr and skipped; the exit status is 1 when any
input failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from pixelguard.cli.commands import add_command_parser
from pixelguard import imageio
from pixelguard.cli.common import add_max_pixels_argument
from pixelguard.cli.models import add_model_options, model_from_args
from pixelguard.devices import DEVICE_CHOICES, resolve_device
from pixelguard.errors import InputError, PixelGuardError
from pixelguard.semantics import relation_for
from pixelguard.tagging import Tag, current_tags


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "inspect",
        description="Print a model's top-K labels for each image.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    add_model_options(parser)
    parser.add_argument("--top", type=int, default=5, metavar="K", help="how many labels to show (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON: [{input, predictions: [[label, prob], ...]}]")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} (default: auto)")
    parser.add_argument("--related", action="store_true",
                        help="mark the predictions semantically related to the top one (ImageNet and Places365 models)")
    parser.add_argument("--tags", action="store_true",
                        help="show the K ranked tags a tagger would give, with scores, as names --hide accepts")
    add_max_pixels_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise PixelGuardError(f"--top must be at least 1, got {args.top}")
    imageio.max_pixels_limit(args.max_pixels)
    device = resolve_device(args.device)
    model = model_from_args(args, device)
    relation = relation_for(model) if args.related else None
    records = []
    failed = False
    for path in args.images:
        try:
            source = imageio.load_image(path, args.max_pixels)
            imageio.check_processable(source)
            image = imageio.rgb_to_tensor(source.rgb).to(device)
        except InputError as error:
            print(f"pixelguard: error: {error}", file=sys.stderr)  # the message names the file
            failed = True
            records.append({"input": path, "error": str(error)})
            continue
        predictions = model.top_k(image, args.top)[0]
        record = {"input": path, "predictions": [[label, probability] for label, probability in predictions]}
        if args.tags:
            tags = current_tags(model, image, args.top)
            record["tags"] = [{"label": tag.label, "score": round(tag.score, 6)} for tag in tags]
        related = None
        if relation is not None:
            with torch.no_grad():
                top = model(image).topk(len(predictions)).indices[0].tolist()
            related = [relation.related(top[0], index) for index in top]
            record["related_to_top1"] = related
        records.append(record)
        if not args.json and args.tags:
            print_tags(path, model.name, tags)
        elif not args.json:
            print_predictions(path, model.name, predictions, related)
    if args.json:
        print(json.dumps(records, indent=2))
    return 1 if failed else 0


def print_predictions(
    path: str, model_name: str, predictions: list[tuple[str, float]], related: list[bool] | None = None
) -> None:
    print(f"{path}  ({model_name})")
    width = max(len(label) for label, _ in predictions)
    for rank, (label, probability) in enumerate(predictions, start=1):
        line = f"  {rank:>2}. {label.ljust(width)}  {probability * 100:6.2f}%"
        if related is not None and rank > 1:
            line += "  related to the top one" if related[rank - 1] else "  unrelated"
        print(line)


def print_tags(path: str, model_name: str, tags: list[Tag]) -> None:
    print(f"{path}  ({model_name}, ranked tags)")
    width = max(len(tag.label) for tag in tags)
    for rank, tag in enumerate(tags, start=1):
        print(f"  {rank:>2}. {tag.label.ljust(width)}  {tag.score:.4f}")
    print(f"  hide some with: pixelguard protect {path} -o OUTDIR --method tkmia --k {len(tags)} "
          f"--hide \"{tags[0].label}\"")
