"""The ``edge-deblur`` command line: one module per command group, joined in :mod:`.main`.

Command modules import nothing heavy at module level (no TensorFlow, no OpenCV): ``edge-deblur
--help`` must start in well under a second. Heavy imports happen inside the command functions.
"""
