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
    res = train(cfg, out, dataset=lambda: toy_dataset(4, 32), val_set=toy_val_set())
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
    # Multi-worker first: its collective ops must be set up before any other TensorFlow work.
    got = _run(tmp_path, ("multi-worker", "default"), {"TF_CONFIG": json.dumps(tf_config)})
    # One worker: MultiWorkerMirroredStrategy uses one CPU device per worker (GPUs if any).
    assert got["replicas"]["multi-worker"] == 1
    assert got["diff"]["multi-worker"] < 1e-4


TWO_WORKERS = r"""
import json, sys
sys.path.insert(0, {here!r})
from _toy import toy_dataset, toy_val_set
from edge_deblur.config import TrainConfig
from edge_deblur.train import train
cfg = TrainConfig(size="tiny", data=("x",), steps=3, batch=4, patch=32, val_every=3,
                  ckpt_every=3, warmup_steps=1, ema=0.0, val_n=2, val_size=32,
                  strategy="multi-worker")
res = train(cfg, {out!r}, dataset=lambda: toy_dataset(4, 32), val_set=toy_val_set())
print(json.dumps({{"step": res.step}}))
"""


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_worker_cluster_trains_and_only_the_chief_writes(tmp_path):
    out = tmp_path / "run"
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    code = TWO_WORKERS.format(here=str(HERE), out=str(out))
    procs = []
    for index in range(2):
        env = dict(os.environ)
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env["TF_CONFIG"] = json.dumps(tf_config)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=540) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert [json.loads(o.strip().splitlines()[-1])["step"] for o, _ in outs] == [3, 3]
    assert (out / "model.keras").is_file() and (out / "log.csv").is_file()
    assert sorted(p.name for p in (out / "ckpt").iterdir() if p.is_dir()) == []
