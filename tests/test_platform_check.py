"""Before Qt starts: does its X11 plugin find its system libraries? (The offscreen tests cannot.)"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pixelguard.cli import main
from pixelguard.gui import platform_check
from pixelguard.gui.platform_check import XCB_LIBRARIES, missing_xcb_libraries, platform_problem

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")


def xcb_plugin() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("PySide6").origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


@linux_only
def test_missing_libraries_match_what_the_dynamic_loader_says_of_the_real_plugin():
    if shutil.which("ldd") is None or not xcb_plugin().exists():
        pytest.skip("needs ldd and PySide6's xcb plugin")
    ldd = subprocess.run(["ldd", str(xcb_plugin())], capture_output=True, text=True).stdout
    not_found = {line.split()[0] for line in ldd.splitlines() if "not found" in line}
    assert set(missing_xcb_libraries()) == not_found & set(XCB_LIBRARIES)


@linux_only
def test_the_message_names_the_packages_for_debian_and_fedora_in_one_line(monkeypatch):
    monkeypatch.setattr(platform_check, "_loadable", lambda soname: soname != "libxcb-cursor.so.0")
    message = platform_problem({"DISPLAY": ":0"})
    assert "libxcb-cursor.so.0" in message and "\n" not in message
    assert "sudo apt install libxcb-cursor0" in message and "sudo dnf install xcb-util-cursor" in message


@linux_only
def test_other_platforms_and_wayland_sessions_are_not_checked(monkeypatch):
    monkeypatch.setattr(platform_check, "_loadable", lambda soname: False)
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}) is None
    assert platform_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert platform_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}) is not None


@linux_only
def test_no_display_is_said_plainly(monkeypatch):
    monkeypatch.setattr(platform_check, "_loadable", lambda soname: True)
    assert "DISPLAY is not set" in platform_problem({})
    assert platform_problem({"DISPLAY": ":0"}) is None


@linux_only
def test_gui_command_says_in_one_line_what_to_install(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    environment["DISPLAY"] = ":0"
    missing = missing_xcb_libraries()
    if not missing:
        pytest.skip("this machine has every library Qt's xcb plugin needs")
    result = subprocess.run([sys.executable, "-m", "pixelguard", "gui"], capture_output=True, text=True,
                            env=environment, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "sudo apt install" in result.stderr and all(soname in result.stderr for soname in missing)


@linux_only
def test_doctor_checks_the_platform_plugin(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(platform_check, "_loadable", lambda soname: soname != "libxcb-icccm.so.4")
    assert main(["doctor"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("window system"))
    assert "cannot start" in line and "libxcb-icccm4" in line
