"""`pixelguard gui [FILES...]`: open the desktop app."""

from __future__ import annotations

import argparse

from pixelguard.cli.commands import add_command_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "gui",
        description="Open the PixelGuard window, with these photos or folders queued.")
    parser.add_argument("paths", nargs="*", metavar="FILE", help="photos or folders to open")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.gui import launch

    return launch(args.paths)
