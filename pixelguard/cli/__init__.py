"""The `pixelguard` command line: one module per sub-command, each with register() and run()."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pixelguard import __version__
from pixelguard.errors import InputError, PixelGuardError

# Sub-command name -> module under pixelguard.cli that defines register(subparsers) and run(args).
SUBCOMMANDS = {
    "protect": "protect",
    "demo": "demo",
    "gui": "gui",
    "models": "models",
    "inspect": "inspect",
    "threshold-map": "threshold_map",
    "evaluate": "evaluate",
    "doctor": "doctor",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelguard",
        description="Protect photos from automatic image classifiers with invisible perturbations.",
    )
    parser.add_argument("--version", action="version", version=f"pixelguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(f"pixelguard.cli.{module_name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except InputError as error:  # a photo that cannot be used: as for a photo that failed in a batch
        print(f"pixelguard: error: {error}", file=sys.stderr)
        return 1
    except PixelGuardError as error:
        print(f"pixelguard: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pixelguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
