"""The `pixelguard` entry point itself: help without heavy imports, every command reachable."""

import subprocess
import sys

import pytest

from pixelguard.cli import build_parser
from pixelguard.cli.commands import COMMANDS

PROBE = """
import sys
from pixelguard.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("heavy:", sorted(name for name in ("torch", "torchvision", "numpy", "PIL", "PySide6") if name in sys.modules))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_help_and_version_import_nothing_heavy(argv):
    result = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip().endswith("heavy: []"), result.stdout + result.stderr


def test_top_level_help_lists_every_command_with_its_own_help(capsys):
    with pytest.raises(SystemExit):
        build_parser(["--help"]).parse_args(["--help"])
    listing = " ".join(capsys.readouterr().out.split())  # argparse wraps long lines
    for name, (_, summary) in COMMANDS.items():
        assert name in listing and summary in listing


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_builds_its_full_parser_when_named(name, capsys):
    with pytest.raises(SystemExit):
        build_parser([name, "--help"]).parse_args([name, "--help"])
    assert f"usage: pixelguard {name}" in capsys.readouterr().out


def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys):
    from pixelguard.cli import doctor, main

    def broken(args):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(doctor, "run", broken)
    assert main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: operator torchvision::nms does not exist" in err
    monkeypatch.setenv("PIXELGUARD_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["doctor"])
