"""`pixelguard gui [FILES...]`: open the desktop app."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the desktop app",
                                   description="Open the PixelGuard window, with these photos or folders queued.")
    parser.add_argument("paths", nargs="*", metavar="FILE", help="photos or folders to open")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.gui import launch

    return launch(args.paths)
