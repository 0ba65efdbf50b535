"""edge-deblur: train, convert and run image-deblurring models on edge boards."""

from runtime import __version__

__all__ = ["__version__"]
