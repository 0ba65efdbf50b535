"""Training data: synthetic realistic blur, GoPro-layout pairs, pairs from video, tf.data pipeline.

Importing this package does not import TensorFlow: :func:`build_train_dataset` does, when called.
"""

from __future__ import annotations

from edge_deblur.data.config import BlurConfig, DataSource, KernelFamily, SourceKind
from edge_deblur.data.pairs import Pair, PairScan, load_pairs, scan_pairs
from edge_deblur.data.pipeline import (
    build_train_dataset,
    make_validation_set,
    pairs_grid,
    sample_pairs,
    split_holdout,
)

__all__ = [
    "BlurConfig",
    "DataSource",
    "KernelFamily",
    "Pair",
    "PairScan",
    "SourceKind",
    "build_train_dataset",
    "load_pairs",
    "make_validation_set",
    "pairs_grid",
    "sample_pairs",
    "scan_pairs",
    "split_holdout",
]
