"""`pixelguard models [list | download NAME... | path]`, plus the --model options other commands share."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from pixelguard.cli.commands import add_command_parser
from pixelguard.cache import cache_dir
from pixelguard.models import DEFAULT_MODEL, Classifier, download_model, list_models, load_model, model_status
from pixelguard.models.datapacks import DATA_PACKS, download_datapack
from pixelguard.models.registry import PREPROCESSING_CHOICES


class DownloadBar:
    """A progress(done, total) callback drawing a tqdm bar on stderr; a new bar per file."""

    def __init__(self, description: str):
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None or done < self.bar.n or total != self.bar.total:
            self.close()
            self.bar = tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=self.description, file=sys.stderr
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model NAME-or-FILE, and --arch / --labels / --preprocess for a user's own model file."""
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"registry name (see `pixelguard models`) or a model file (default: {DEFAULT_MODEL})",
    )
    parser.add_argument("--arch", help="architecture of a state_dict model file, e.g. resnet50 or efficientnet-lite0")
    parser.add_argument("--labels", help="labels file for a model file: one label per line, in output order")
    parser.add_argument(
        "--preprocess",
        choices=list(PREPROCESSING_CHOICES),
        help="preprocessing for a model file (default: that of --arch, else imagenet)",
    )


def model_from_args(args: argparse.Namespace, device) -> Classifier:
    """Load the model named by add_model_options' arguments, with a download bar if it must be fetched."""
    bar = DownloadBar(f"downloading {args.model}")
    try:
        return load_model(
            args.model,
            device=device,
            progress=bar,
            architecture=args.arch,
            labels=args.labels,
            preprocessing=args.preprocess,
        )
    finally:
        bar.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "models",
        description="List the models, download one, or show the cache folder.",
    )
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    actions.add_parser("list", help="table of models and whether they are on this machine (the default)")
    download = actions.add_parser("download", help="download a model's weights (or a data pack) into the cache")
    download.add_argument("names", nargs="+", metavar="NAME", help="model or data pack name")
    actions.add_parser("path", help="print the cache folder (set PIXELGUARD_HOME to move it)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    action = args.models_action or "list"
    if action == "path":
        print(cache_dir())
    elif action == "download":
        for name in args.names:
            bar = DownloadBar(f"downloading {name}")
            try:
                path = download_datapack(name, bar) if name in DATA_PACKS else download_model(name, bar)
            finally:
                bar.close()
            print(f"{name}: {path}")
    else:
        print_table()
    return 0


def print_table() -> None:
    header = ("NAME", "TASK", "CLASSES", "INPUT", "LICENCE", "STATUS", "SIZE")
    rows = [
        (
            entry.name,
            entry.task,
            str(entry.num_classes),
            f"{entry.input_size}px",
            entry.licence,
            model_status(entry.name),
            f"{entry.download_mb:.0f} MB",
        )
        for entry in list_models()
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
