"""The `pixelguard` command line: one module per sub-command, each with register() and run()."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pixelguard import __version__
from pixelguard.cli.commands import COMMANDS
from pixelguard.errors import InputError, PixelGuardError
from pixelguard.threads import prepare_environment

DEBUG_VARIABLE = "PIXELGUARD_DEBUG"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the sub-command named in `argv` is built in full (its module imported),
    the others are listed by name and help, so --help and --version stay instant."""
    parser = argparse.ArgumentParser(
        prog="pixelguard",
        description="Protect photos from automatic image classifiers with invisible perturbations.",
    )
    parser.add_argument("--version", action="version", version=f"pixelguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((argument for argument in (argv or []) if not argument.startswith("-")), None)
    for name, (module_name, summary) in COMMANDS.items():
        if name == chosen or argv is None:
            importlib.import_module(f"pixelguard.cli.{module_name}").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(argument in COMMANDS for argument in argv):
        prepare_environment()  # before the command's module loads PyTorch
    parser = build_parser(argv)
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
    except Exception as error:  # a defect or a broken installation: one line, unless debugging
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"pixelguard: unexpected error ({type(error).__name__}: {error}); `pixelguard doctor` checks the "
              f"installation, {DEBUG_VARIABLE}=1 shows the traceback", file=sys.stderr)
        return 1
