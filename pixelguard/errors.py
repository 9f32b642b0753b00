"""Errors meant for the person running PixelGuard.

Anything raised as a PixelGuardError carries a one-line, plain-words message; the CLI prints
it without a traceback and exits non-zero, the GUI shows it in a dialog or status line.
"""


class PixelGuardError(Exception):
    """A problem the user can act on (bad input, missing model, bad option)."""


class InputError(PixelGuardError):
    """An input file cannot be used: missing, unreadable, not an image, too large."""


class ModelUnavailableError(PixelGuardError):
    """A model or data pack is not on this machine and cannot be downloaded now."""


class DownloadError(PixelGuardError):
    """A download failed: network, HTTP status, truncated transfer or checksum mismatch."""
