"""edge-deblur's on-device runtime: numpy, OpenCV and the LiteRT interpreter, never TensorFlow."""

__version__ = "0.1.0"
