"""Can Qt open a window here? Checked before Qt starts, without importing Qt.

PySide6's wheels bring Qt but not the system libraries its X11 plugin (xcb) loads, so on a
fresh Debian, Ubuntu or Fedora the app would stop with Qt's own multi-line abort ("could not
load the Qt platform plugin xcb"). This names the missing libraries and the packages to install.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

# The libraries Qt 6's xcb plugin (libqxcb.so, libQt6XcbQpa.so.6) links to, beyond those every
# desktop has, with the Debian/Ubuntu and Fedora packages that provide them.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
}


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries() -> list[str]:
    """The libraries of XCB_LIBRARIES the dynamic loader cannot find on this machine."""
    return [soname for soname in XCB_LIBRARIES if not _loadable(soname)]


def install_hint(missing: list[str]) -> str:
    debian = sorted({XCB_LIBRARIES[soname][0] for soname in missing})
    fedora = sorted({XCB_LIBRARIES[soname][1] for soname in missing})
    return (f"sudo apt install {' '.join(debian)} (Debian, Ubuntu) or sudo dnf install {' '.join(fedora)} "
            "(Fedora)")


def uses_xcb(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether Qt would start with its X11 plugin: Linux, no other platform asked for, and no
    Wayland-only session."""
    if not sys.platform.startswith("linux"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").split(";")[0].strip()
    if requested:
        return requested.startswith("xcb")
    return not (environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"))


def platform_problem(environ: Mapping[str, str] = os.environ) -> str | None:
    """One line saying why Qt cannot open a window here and what to do, or None."""
    if not uses_xcb(environ):
        return None
    missing = missing_xcb_libraries()
    if missing:
        return (f"the desktop app needs system libraries that Qt's X11 plugin loads and this machine lacks "
                f"({', '.join(missing)}); install them: {install_hint(missing)}")
    if not environ.get("DISPLAY"):
        return ("no display to open the window on (DISPLAY is not set); start it from a desktop session, "
                "or use the command line: pixelguard protect --help")
    return None
