"""Desktop integration files and the bundle's install script (the bundle build itself is
packaging/build.sh, a script rather than a test: it takes minutes and gigabytes)."""

import configparser
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pixelguard.gui import icon

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.pixelguard.PixelGuard"
DESKTOP = ROOT / "resources" / f"{APP_ID}.desktop"
METAINFO = ROOT / "resources" / f"{APP_ID}.metainfo.xml"


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path)
    return parser["Desktop Entry"]


def test_desktop_entry_starts_the_gui_with_the_app_icon():
    entry = desktop_entry(DESKTOP)
    assert entry["Type"] == "Application" and entry["Name"] == "PixelGuard"
    assert entry["Exec"].split()[0] == "pixelguard-gui"
    assert 'pixelguard-gui = "pixelguard.gui:main"' in (ROOT / "pyproject.toml").read_text()
    assert entry["Icon"] == APP_ID
    assert "image/jpeg" in entry["MimeType"].split(";")


def test_metainfo_names_the_desktop_entry_and_both_commands():
    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert {binary.text for binary in root.iter("binary")} == {"pixelguard", "pixelguard-gui"}


@pytest.mark.parametrize(("tool", "arguments", "path"), [
    ("desktop-file-validate", [], DESKTOP),
    ("appstreamcli", ["validate", "--no-net"], METAINFO),
])
def test_freedesktop_validators_accept_the_files(tool, arguments, path):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    result = subprocess.run([tool, *arguments, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def fake_bundle(tmp_path) -> Path:
    """A bundle folder laid out as build.sh leaves it, with stub programs."""
    bundle = tmp_path / "PixelGuard"
    (bundle / "share").mkdir(parents=True)
    for program in ("pixelguard", "pixelguard-gui"):
        (bundle / program).write_text(f"#!/bin/sh\necho {program} ran\n")
        (bundle / program).chmod(0o755)
    shutil.copy(DESKTOP, bundle / "share")
    shutil.copy(METAINFO, bundle / "share")
    shutil.copytree(icon.resources_dir(), bundle / "_internal" / "pixelguard" / "resources")
    shutil.copy(ROOT / "packaging" / "install-linux.sh", bundle / "install.sh")
    return bundle


def test_install_script_puts_the_bundle_in_the_menus_and_uninstall_removes_it(fake_bundle, tmp_path):
    home = tmp_path / "my home"  # a space, as in many user names
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    installed = subprocess.run(["bash", str(fake_bundle / "install.sh")], env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    target = home / ".local" / "opt" / "PixelGuard"
    data = home / ".local" / "share"
    ran = subprocess.run([str(home / ".local" / "bin" / "pixelguard")], capture_output=True, text=True)
    assert ran.stdout.strip() == "pixelguard ran"
    installed_entry = data / "applications" / DESKTOP.name
    assert desktop_entry(installed_entry)["Exec"] == f'"{target}/pixelguard-gui" %F'
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(installed_entry)]).returncode == 0
    assert (data / "metainfo" / METAINFO.name).read_bytes() == METAINFO.read_bytes()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in icon.ICON_SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert fake_bundle.is_dir()  # installing copies; the unpacked folder is left as it was

    removed = subprocess.run(["bash", str(target / "install.sh"), "--uninstall"], env=env,
                             capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    assert not target.exists()
    left = [path for path in home.rglob("*") if path.is_file() or path.is_symlink()]
    assert [path for path in left if path.suffix != ".cache"] == []  # menu/icon caches are the desktop's


def test_install_script_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    script = tmp_path / "install.sh"
    shutil.copy(ROOT / "packaging" / "install-linux.sh", script)
    result = subprocess.run(["bash", str(script)], env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]},
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: run install.sh from the unpacked PixelGuard bundle folder"
