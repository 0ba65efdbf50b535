"""The one error hierarchy of edge-deblur.

Every user mistake raises a subclass of :class:`EdgeDeblurError` whose message is one line that
names the input, says what was expected, what was given and, where there is one, the fix. The CLI
turns these into ``edge-deblur: error: <message>`` on stderr and exit code 2, without a traceback.

It lives in ``runtime`` (the most downstream package that everything else may import) so that the
board install, which has no TensorFlow, has the same errors as the workstation.
"""

from __future__ import annotations


class EdgeDeblurError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is a single line."""

    exit_code = 2


class InputError(EdgeDeblurError, ValueError):
    """A file, folder, URL or argument given by the user is missing, unreadable or invalid."""


class ModelError(EdgeDeblurError):
    """A model that cannot be loaded, is not image-to-image, or cannot be converted."""


class ConversionError(ModelError):
    """A conversion that failed or whose output failed validation against its source."""


class OutputExistsError(EdgeDeblurError, FileExistsError):
    """An output that already exists and would be overwritten without ``--force``."""


class DeviceError(EdgeDeblurError):
    """An accelerator or its driver (e.g. ``libedgetpu.so.1``) that was asked for but is absent."""


def expected(name: str, what: str, given: object, fix: str | None = None) -> str:
    """Build the standard one-line message: ``NAME: expected WHAT, got GIVEN[; FIX]``."""
    msg = f"{name}: expected {what}, got {given!r}"
    if fix:
        msg += f"; {fix}"
    return " ".join(msg.split("\n"))
