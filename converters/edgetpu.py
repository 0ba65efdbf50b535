"""Edge TPU readiness read from the ``.tflite`` flatbuffer itself, and the optional compiler run.

:func:`analyze` applies the Edge TPU rules to what :func:`runtime.model_file.inspect_model`
reports: every op in Coral's supported list (``edgetpu_ops.yaml``, with its source) and
integer, static shapes, activation tensors with at most 3 non-1 dimensions, parameters against
the ~8 MiB on-chip memory. The compiler maps ops in order until the first one that fails and
runs the rest on the CPU, so the first failing op and the share of MACs before it are what a
user needs to know.

:func:`compile_edgetpu` calls ``edgetpu_compiler`` (argument list, checked exit code) when it
is on PATH and parses its log.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from runtime.errors import ConversionError, DeviceError
from runtime.io import atomic_write
from runtime.model_file import ModelInfo, OperatorInfo, TensorInfo

OPS_FILE = Path(__file__).with_name("edgetpu_ops.yaml")
ON_CHIP_BYTES = 8 * 1024 * 1024
INTEGER_DTYPES = {"int8", "uint8"}
# int32 is allowed for biases (constants) and int32 shape/size parameters.
PARAM_DTYPES = {"int8", "uint8", "int32", "int64"}


@functools.lru_cache(maxsize=1)
def supported_ops() -> dict[str, Any]:
    """The parsed ``edgetpu_ops.yaml``: ``{"source", "compiler_version", "checked", "ops"}``."""
    import yaml

    return yaml.safe_load(OPS_FILE.read_text(encoding="utf-8"))


@dataclasses.dataclass(frozen=True)
class OpCheck:
    """Why one operator would or would not map to the Edge TPU."""

    index: int
    name: str
    version: int
    macs: int
    problems: tuple[str, ...]

    @property
    def maps(self) -> bool:
        return not self.problems


@dataclasses.dataclass(frozen=True)
class EdgeTpuReport:
    """Readiness of one model; ``ready`` when every op maps and the parameters fit on chip."""

    ops: tuple[OpCheck, ...]
    first_cpu_op: str | None
    first_cpu_reason: str | None
    tpu_macs: int
    total_macs: int
    parameter_bytes: int
    fits_on_chip: bool
    static_shapes: bool
    problems: tuple[str, ...]
    source: str
    compiler: dict[str, Any] | None = None

    @property
    def tpu_mac_share(self) -> float:
        return self.tpu_macs / self.total_macs if self.total_macs else 0.0

    @property
    def ready(self) -> bool:
        return self.first_cpu_op is None and self.fits_on_chip

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "first_cpu_op": self.first_cpu_op,
            "first_cpu_reason": self.first_cpu_reason,
            "tpu_mac_share": round(self.tpu_mac_share, 4),
            "tpu_macs": self.tpu_macs,
            "total_macs": self.total_macs,
            "parameter_bytes": self.parameter_bytes,
            "on_chip_bytes": ON_CHIP_BYTES,
            "fits_on_chip": self.fits_on_chip,
            "static_shapes": self.static_shapes,
            "problems": list(self.problems),
            "ops_on_tpu": sum(1 for o in self.ops if o.maps)
            if self.first_cpu_op is None
            else next(i for i, o in enumerate(self.ops) if not o.maps),
            "ops_total": len(self.ops),
            "supported_ops_source": self.source,
            "compiler": self.compiler,
        }


def _non1(t: TensorInfo) -> int:
    return sum(1 for d in t.shape_signature if d != 1)


def check_op(op: OperatorInfo, table: dict[str, Any]) -> OpCheck:
    """Every Edge TPU rule that ``op`` breaks (empty when it would map)."""
    problems = []
    if op.name not in table:
        problems.append(f"{op.name} is not in Coral's supported-op list")
    elif op.version > int((table[op.name] or {}).get("max_version", op.version)):
        problems.append(
            f"{op.name} version {op.version} is newer than the compiler parses "
            f"(at most v{table[op.name]['max_version']})"
        )
    for t in op.inputs + op.outputs:
        allowed = PARAM_DTYPES if t.is_constant else INTEGER_DTYPES
        if t.dtype not in allowed:
            problems.append(f"tensor {t.name!r} is {t.dtype}, not int8/uint8")
        if not t.is_static:
            problems.append(f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}")
        if not t.is_constant and _non1(t) > 3:
            problems.append(f"tensor {t.name!r} has {_non1(t)} dimensions > 1 (at most 3 map)")
    return OpCheck(op.index, op.name, op.version, op.macs, tuple(dict.fromkeys(problems)))


def _boundary(op: OperatorInfo, info: ModelInfo) -> bool:
    """A QUANTIZE from the model's float input or a DEQUANTIZE to its float output.

    With float I/O the compiler leaves these on the CPU at the edges of the graph without
    splitting the TPU part (Coral: float inputs/outputs are allowed; the (de)quantize runs on
    the CPU), so they do not count as the first op that falls back.
    """
    ins = {t.index for t in info.inputs}
    outs = {t.index for t in info.outputs}
    if op.name == "QUANTIZE" and op.inputs and op.inputs[0].index in ins:
        return op.inputs[0].dtype.startswith("float")
    if op.name == "DEQUANTIZE" and op.outputs and op.outputs[0].index in outs:
        return op.outputs[0].dtype.startswith("float")
    return False


def analyze(info: ModelInfo) -> EdgeTpuReport:
    """Apply the Edge TPU rules to ``info`` (from ``runtime.model_file.inspect_model``)."""
    data = supported_ops()
    table = data["ops"]
    graph = [op for op in info.operators if op.subgraph == 0]
    edge = [op for op in graph if _boundary(op, info)]
    ops = tuple(check_op(op, table) for op in graph if not _boundary(op, info))
    first = next((o for o in ops if not o.maps), None)
    tpu_macs = sum(o.macs for o in ops[: ops.index(first)]) if first else sum(o.macs for o in ops)
    problems = []
    if edge:
        problems.append(
            "float I/O: "
            + ", ".join(f"#{op.index} {op.name}" for op in edge)
            + " run on the CPU at the graph's edge (use --io uint8 to keep them off)"
        )
    if info.subgraph_count > 1:
        problems.append(f"{info.subgraph_count} subgraphs (the compiler maps one)")
    fits = info.parameter_bytes <= ON_CHIP_BYTES
    if not fits:
        problems.append(
            f"parameters {info.parameter_bytes / 2**20:.1f} MiB exceed the ~8 MiB on-chip memory "
            "(they will stream from the host, slower)"
        )
    if first is not None:
        problems.append(f"op #{first.index} {first.name}: {first.problems[0]}")
    return EdgeTpuReport(
        ops=ops,
        first_cpu_op=f"#{first.index} {first.name}" if first else None,
        first_cpu_reason="; ".join(first.problems) if first else None,
        tpu_macs=int(tpu_macs),
        total_macs=int(sum(o.macs for o in ops)),
        parameter_bytes=info.parameter_bytes,
        fits_on_chip=fits,
        static_shapes=info.static_shapes,
        problems=tuple(problems),
        source=f"{data['source']} (compiler {data['compiler_version']}, checked {data['checked']})",
    )


_OP_LINE = re.compile(r"^\s*([A-Z][A-Z0-9_]+)\s+(\d+)\s+(.+?)\s*$")


def parse_compiler_log(text: str) -> dict[str, Any]:
    """The compiler's version, timing, op table and on-chip/off-chip memory from its log text."""
    out: dict[str, Any] = {
        "version": None,
        "ops": [],
        "on_chip_memory": None,
        "off_chip_memory": None,
        "compiled_ms": None,
    }
    in_table = False
    for line in text.splitlines():
        s = line.strip()
        if m := re.match(r"Edge TPU Compiler version\s+(\S+)", s):
            out["version"] = m.group(1)
        elif m := re.match(r"Model compiled successfully in\s+(\d+)\s*ms", s):
            out["compiled_ms"] = int(m.group(1))
        elif m := re.match(r"On-chip memory used for caching model parameters:\s*(.+)", s):
            out["on_chip_memory"] = m.group(1)
        elif m := re.match(
            r"Off-chip memory used for streaming uncached model parameters:\s*(.+)", s
        ):
            out["off_chip_memory"] = m.group(1)
        elif s.startswith("Operator") and "Count" in s and "Status" in s:
            in_table = True
        elif in_table and (m := _OP_LINE.match(line)):
            out["ops"].append({"op": m.group(1), "count": int(m.group(2)), "status": m.group(3)})
        elif in_table and s and not _OP_LINE.match(line):
            in_table = False
    mapped = sum(o["count"] for o in out["ops"] if o["status"].startswith("Mapped to Edge TPU"))
    out["ops_mapped"] = mapped
    out["ops_total"] = sum(o["count"] for o in out["ops"])
    return out


def compiler_path() -> str | None:
    """``edgetpu_compiler`` on PATH, or None."""
    return shutil.which("edgetpu_compiler")


def edgetpu_output_path(out: str | os.PathLike) -> Path:
    """``m.tflite`` -> ``m_edgetpu.tflite`` (the compiler's own naming)."""
    p = Path(out)
    return p.with_name(f"{p.stem}_edgetpu.tflite")


def compile_edgetpu(
    tflite: bytes, out: str | os.PathLike, force: bool = False, timeout_s: float = 600
) -> dict[str, Any]:
    """Run ``edgetpu_compiler`` on ``tflite`` and write ``OUT_edgetpu.tflite`` atomically.

    Raises DeviceError when the compiler is not on PATH, ConversionError when it fails (the
    last line of its log in the message). Returns the parsed log plus ``output``.
    """
    exe = compiler_path()
    if exe is None:
        raise DeviceError(
            "--edgetpu: expected edgetpu_compiler on PATH, got none; install it from Coral's apt "
            "repository (x86-64 Linux) or run convert without the compiler and compile later"
        )
    target = edgetpu_output_path(out)
    with tempfile.TemporaryDirectory(prefix="edge_deblur_tpu_") as tmp:
        src = Path(tmp) / f"{Path(out).stem}.tflite"
        src.write_bytes(tflite)
        try:
            proc = subprocess.run(
                [exe, "-s", "-o", tmp, str(src)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ConversionError(f"--edgetpu: edgetpu_compiler could not run ({e})") from e
        log = proc.stdout + ("\n" + proc.stderr if proc.stderr else "")
        produced = Path(tmp) / f"{src.stem}_edgetpu.tflite"
        if proc.returncode != 0 or not produced.is_file():
            last = next((ln for ln in reversed(log.strip().splitlines()) if ln.strip()), "")
            raise ConversionError(
                f"--edgetpu: edgetpu_compiler exited with code {proc.returncode} "
                f"({last.strip()[:200] or 'no output'}); the .tflite itself was not written"
            )
        parsed = parse_compiler_log(log)
        compiled = produced.read_bytes()
    atomic_write(target, compiled, force=force)
    parsed["output"] = str(target)
    parsed["exit_code"] = proc.returncode
    return parsed
