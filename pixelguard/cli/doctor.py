"""`pixelguard doctor`: what this installation has, for bug reports. Writes nothing."""

from __future__ import annotations

import argparse
import platform
import sys

from pixelguard.cli.commands import add_command_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "doctor",
        description="Print what this PixelGuard installation has: versions, compute devices, the "
                    "cache folder and which models are available. Reads only; writes nothing.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch
    import torchvision

    from pixelguard import __version__
    from pixelguard.cache import HOME_VARIABLE, cache_dir
    from pixelguard.models import list_models, model_status

    rows = [
        ("pixelguard", __version__),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
        ("torch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("qt", _qt_version()),
        ("window system", _window_system()),
        ("devices", ", ".join(_devices(torch))),
        ("cache folder", f"{cache_dir()}" + (f" (from {HOME_VARIABLE})" if _env_set(HOME_VARIABLE) else "")),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("models:")
    for entry in list_models():
        print(f"  {entry.name:<20} {model_status(entry.name)}")
    return 0


def _devices(torch) -> list[str]:
    found = []
    if torch.cuda.is_available():
        found += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps (Apple GPU)")
    found.append(f"cpu ({torch.get_num_threads()} threads)")
    return found


def _qt_version() -> str:
    try:
        import PySide6
        from PySide6.QtCore import qVersion
    except ImportError as error:  # the CLI works without Qt; say why the GUI would not
        return f"not available ({error})"
    return f"PySide6 {PySide6.__version__}, Qt {qVersion()}"


def _window_system() -> str:
    """Whether Qt's platform plugin loads: the libraries first, then a real start in a child process."""
    import os
    import subprocess

    from pixelguard.gui.platform_check import platform_problem, uses_xcb

    if not uses_xcb():
        return f"not checked (Qt platform: {os.environ.get('QT_QPA_PLATFORM') or 'the system default'})"
    problem = platform_problem()
    if problem:
        return f"the app cannot start: {problem}"
    probe = "from PySide6.QtGui import QGuiApplication; QGuiApplication([])"
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "the app cannot start: Qt did not start within 60 s"
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        return f"the app cannot start: Qt's xcb plugin failed ({reason})"
    return "X11 (xcb): Qt's plugin loads"


def _env_set(name: str) -> bool:
    import os

    return bool(os.environ.get(name))
