"""The short fine-tuning loop pruning and QAT share: distillation from the float source model.

The student (pruned and/or fake-quantized copy) learns to reproduce the float model's output on
real input tiles (L1 loss). Distilling rather than fitting sharp targets keeps the converted
model as close as possible to the model the user trained, which is what validation measures; it
also works with ``--data`` folders that have no sharp references.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from converters.calibration import TileSet


def train_tile_size(model: Any, default: int = 96) -> tuple[int, int]:
    """The crop size for fine-tuning: the model's own fixed size, else ``default`` square."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    h, w = shape[1], shape[2]
    return (int(h) if h else default, int(w) if w else default)


def teacher_targets(teacher: Any, tiles: TileSet, batch: int = 8) -> np.ndarray:
    """Float outputs of the source model on ``tiles`` (the distillation targets)."""
    x = tiles.as_float()
    return np.concatenate(
        [np.asarray(teacher(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    ).astype(np.float32)


def fit_distill(
    student: Any,
    tiles: TileSet,
    targets: np.ndarray,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    callbacks: list | None = None,
) -> list[float]:
    """Run at least ``steps`` optimizer steps on random batches of ``tiles``.

    The steps are split into up to 10 epochs so the returned curve (mean loss per epoch) shows
    whether fine-tuning converged; the total is ``steps`` rounded up to a multiple of the epochs.
    """
    from edge_deblur._keras import keras, tf

    x = tiles.as_float()
    rng = np.random.default_rng(seed)
    epochs = max(1, min(steps, 10))
    per_epoch = -(-steps // epochs)
    idx = rng.integers(0, len(x), size=(epochs * per_epoch, batch_size))

    rows = iter(idx)  # shared: a generator restarted per epoch continues where it stopped

    def gen():
        for row in rows:
            yield x[row], targets[row]

    h, w = x.shape[1:3]
    ds = tf.data.Dataset.from_generator(
        gen,
        output_signature=(
            tf.TensorSpec((None, h, w, 3), tf.float32),
            tf.TensorSpec((None, h, w, 3), tf.float32),
        ),
    )
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mae")
    hist = student.fit(
        ds, epochs=epochs, steps_per_epoch=per_epoch, verbose=0, callbacks=callbacks or []
    )
    return [float(v) for v in hist.history.get("loss", [])]
