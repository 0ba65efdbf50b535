"""tf.distribute: the CPU split into two logical devices; mirrored training equals one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

CODE = r"""
import json, sys
import numpy as np
sys.path.insert(0, {here!r})
from edge_deblur._keras import keras, tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from _toy import toy_dataset, toy_val_set
from edge_deblur.config import TrainConfig
from edge_deblur.train import make_strategy, train

weights, replicas = {{}}, {{}}
for strat in {strategies!r}:
    cfg = TrainConfig(size="tiny", data=("x",), steps=3, batch=4, patch=32, val_every=3,
                      ckpt_every=3, warmup_steps=1, lr=1e-3, ema=0.0, val_n=2, val_size=32,
                      strategy=strat)
    out = {tmp!r} + "/" + strat
    res = train(cfg, out, dataset=toy_dataset(4, 32), val_set=toy_val_set())
    assert res.step == 3
    replicas[strat] = make_strategy(strat).num_replicas_in_sync
    m = keras.models.load_model(out + "/model.keras", compile=False)
    weights[strat] = m.get_weights()
ref = weights["default"]
diff = {{s: max(float(np.abs(a - b).max()) for a, b in zip(ref, w)) for s, w in weights.items()}}
print(json.dumps({{"replicas": replicas, "diff": diff}}))
"""


def _run(tmp_path: Path, strategies: tuple[str, ...], env: dict[str, str] | None = None) -> dict:
    code = CODE.format(here=str(HERE), strategies=strategies, tmp=str(tmp_path))
    full_env = dict(os.environ)
    full_env.pop("TF_CONFIG", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=540
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path):
    got = _run(tmp_path, ("default", "mirrored"))
    assert got["replicas"] == {"default": 1, "mirrored": 2}
    # Same seed, same data, the global batch split 2+2: the same update up to float rounding.
    assert got["diff"]["mirrored"] < 1e-4


@pytest.mark.slow
def test_multi_worker_reads_tf_config(tmp_path):
    tf_config = {"cluster": {"worker": ["localhost:23456"]}, "task": {"type": "worker", "index": 0}}
    got = _run(tmp_path, ("default", "multi-worker"), {"TF_CONFIG": json.dumps(tf_config)})
    assert got["replicas"]["multi-worker"] == 2  # one worker, two local logical devices
    assert got["diff"]["multi-worker"] < 1e-4
