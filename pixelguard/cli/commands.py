"""The sub-commands: name -> (module under pixelguard.cli, one-line help).

Kept apart from the modules so `pixelguard --help` lists them without importing any (they import
PyTorch); a module is imported only when its command runs or asks for its own --help.
"""

from __future__ import annotations

import argparse

COMMANDS: dict[str, tuple[str, str]] = {
    "protect": ("protect", "protect photos or folders"),
    "demo": ("demo", "protect a sample photo and show predictions before and after"),
    "gui": ("gui", "open the desktop app"),
    "models": ("models", "list, download and locate models"),
    "inspect": ("inspect", "show a model's top predictions for images"),
    "threshold-map": ("threshold_map", "draw an image's colour-variance threshold map"),
    "evaluate": ("evaluate", "measure how well protected photos fool other classifiers"),
    "doctor": ("doctor", "show versions, devices, cache folder and models (changes nothing)"),
}


def add_command_parser(subparsers: argparse._SubParsersAction, name: str, **options) -> argparse.ArgumentParser:
    """The parser of sub-command `name`, with its one-line help from COMMANDS."""
    return subparsers.add_parser(name, help=COMMANDS[name][1], **options)
