"""Re-export of the error hierarchy (defined in :mod:`runtime.errors` so boards have it too)."""

from runtime.errors import (  # noqa: F401
    ConversionError,
    DeviceError,
    EdgeDeblurError,
    InputError,
    ModelError,
    OutputExistsError,
    expected,
)
