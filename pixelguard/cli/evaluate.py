"""`pixelguard evaluate ORIGINALS PROTECTED --models a,b`: evasion on judge classifiers, after uploads."""

from __future__ import annotations

import argparse
import json
import sys

from pixelguard.cli.commands import add_command_parser
from pixelguard.devices import DEVICE_CHOICES, resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.evaluate import evaluate_model, pair_files, upload_transforms
from pixelguard.models import load_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "evaluate",
        description="Pair originals and protected copies by relative path and report, per judge model, "
                    "top-1 / top-5 evasion and semantic mismatch, as saved and after JPEG / resizing. "
                    "Judge with models that were not used for protection.",
    )
    parser.add_argument("originals", metavar="ORIGINALS", help="folder (or file) of original photos")
    parser.add_argument("protected", metavar="PROTECTED", help="folder (or file) of protected copies")
    parser.add_argument("--models", required=True, metavar="NAME,...", help="judge models, comma-separated")
    parser.add_argument("--jpeg", type=int, metavar="QUALITY", help="also judge after a JPEG re-encode at this quality")
    parser.add_argument("--resize", type=int, metavar="PIXELS", help="also judge after downscaling to this long side")
    parser.add_argument("--k", type=int, default=5, help="top-k for semantic mismatch (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON with per-file results")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} (default: auto)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.jpeg is not None and not 1 <= args.jpeg <= 100:
        raise PixelGuardError(f"--jpeg must be between 1 and 100, got {args.jpeg}")
    if args.resize is not None and args.resize < 16:
        raise PixelGuardError(f"--resize must be at least 16 pixels, got {args.resize}")
    if args.k < 1:
        raise PixelGuardError(f"--k must be at least 1, got {args.k}")
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    if not names:
        raise PixelGuardError("--models needs at least one model name")
    pairs, unpaired = pair_files(args.originals, args.protected)
    if not pairs:
        raise PixelGuardError(f"no protected photo in {args.protected} has an original in {args.originals}")
    for path in unpaired:
        print(f"pixelguard: no original for {path}; skipped", file=sys.stderr)
    device = resolve_device(args.device)
    transforms = upload_transforms(args.jpeg, args.resize)
    rows = []
    for name in names:
        rows += evaluate_model(load_model(name, device=device), pairs, transforms, k=args.k, device=device)
    if args.json:
        print(json.dumps({"pairs": len(pairs), "unpaired": [str(p) for p in unpaired],
                          "results": [row.summary() for row in rows],
                          "files": [vars(f) for row in rows for f in row.files]}, indent=2))
    else:
        print_table(rows, args.k)
    return 0


def print_table(rows, k: int) -> None:
    header = ("MODEL", "AFTER", "PAIRS", "TOP-1 EVASION", "TOP-5 EVASION", f"SEMANTIC MISMATCH (top {k})")
    cells = [(row.model, row.transform, str(row.pairs), f"{row.top1_evasion:.0%}", f"{row.top5_evasion:.0%}",
              "n/a" if row.semantic_mismatch is None else f"{row.semantic_mismatch:.0%}") for row in rows]
    widths = [max(len(line[column]) for line in [header, *cells]) for column in range(len(header))]
    for line in [header, *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    if any(row.semantic_mismatch is None for row in rows):
        print("semantic mismatch n/a: the judge's label hierarchy is not cached "
              "(e.g. `pixelguard models download imagenet-class-paths`)")
