"""``edge-deblur convert`` and ``edge-deblur inspect``: thin wrappers over ``converters``.

Nothing heavy is imported here at module level: TensorFlow loads inside ``convert`` only, and
``inspect`` never needs it (it reads the flatbuffer with ``runtime.model_file``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from converters.config import IODtype, QuantMode, Structure, WeightScheme
from edge_deblur.cli._common import ErrorHandlingGroup, parse_size

app = typer.Typer(cls=ErrorHandlingGroup)


@app.command("convert")
def convert_cmd(
    model: Path = typer.Argument(
        ...,
        exists=True,
        help="A trained .keras file, or a train run folder (model.keras + config.yaml).",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="The .tflite to write."),
    quant: QuantMode = typer.Option(QuantMode.INT8, "--quant", help="Weights/activations."),
    prune: float | None = typer.Option(
        None, "--prune", help="Target weight sparsity, e.g. 0.5 (fine-tunes on --data/--pairs)."
    ),
    structured: Structure = typer.Option(
        Structure.NONE, "--structured", help="Pruning pattern: none, or 2:4 (50%)."
    ),
    prune_steps: int = typer.Option(200, "--prune-steps", help="Pruning fine-tuning steps."),
    qat_steps: int = typer.Option(
        0, "--qat-steps", help="Quantization-aware fine-tuning steps before int8 (0: none)."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        exists=True,
        file_okay=False,
        help="Folder of real images for calibration / fine-tuning / validation.",
    ),
    pairs: Path | None = typer.Option(
        None,
        "--pairs",
        exists=True,
        file_okay=False,
        help="GoPro-layout folder (blur/ + sharp/): blurred inputs, sharp references.",
    ),
    input_size: str | None = typer.Option(
        None, "--input-size", help="HxW of the .tflite input (int8 default 256x256)."
    ),
    io: IODtype | None = typer.Option(
        None, "--io", help="I/O dtype of an int8 model [default: uint8]."
    ),
    edgetpu: bool = typer.Option(
        False, "--edgetpu", help="Run edgetpu_compiler when on PATH (writes *_edgetpu.tflite)."
    ),
    weights: WeightScheme = typer.Option(
        WeightScheme.PER_CHANNEL,
        "--weights",
        help="int8 weight scales: per-channel (quality) or per-tensor (smaller file).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Convert a Keras model to a validated .tflite, with a report beside it."""
    from converters.config import ConvertConfig

    cfg = ConvertConfig(
        quant=quant,
        io=io or (IODtype.UINT8 if quant is QuantMode.INT8 else IODtype.FLOAT32),
        prune=prune,
        structured=structured,
        prune_steps=prune_steps,
        qat_steps=qat_steps,
        data=str(data) if data else None,
        pairs=str(pairs) if pairs else None,
        input_size=parse_size(input_size) if input_size else None,
        edgetpu=edgetpu,
        weights=weights,
    )
    from rich.console import Console

    from converters.convert import convert

    console = Console(stderr=True)
    with console.status("converting") as status:
        result = convert(model, output, cfg, force=force, on_step=lambda m: status.update(m))
    r = result.report
    v = r["validation"]
    e = r["edgetpu"]
    typer.echo(
        f"wrote {result.output} ({r['size_bytes'] / 1024:.1f} KiB"
        + (f", {r['size_vs_fp32']:.0%} of fp32" if r["size_vs_fp32"] else "")
        + f", gzip {r['gzip_bytes'] / 1024:.1f} KiB)"
    )
    typer.echo(
        f"validation: PSNR vs Keras {v['psnr_vs_keras']} dB on {v['tiles']} {v['origin']} tiles"
        + (
            f"; vs sharp Keras {v['keras_psnr_vs_sharp']} / TFLite {v['tflite_psnr_vs_sharp']} dB"
            if v.get("keras_psnr_vs_sharp") is not None
            else ""
        )
    )
    typer.echo(
        f"edge tpu: {'ready' if e['ready'] else 'not ready'}, "
        f"{e['tpu_mac_share'] * 100:.0f}% of MACs on the TPU"
        + (f", first CPU op {e['first_cpu_op']}" if e["first_cpu_op"] else "")
    )
    if result.edgetpu_output:
        typer.echo(f"wrote {result.edgetpu_output}")
    elif e.get("compiler"):
        typer.echo(f"edgetpu_compiler: {e['compiler'].get('note')}")
    typer.echo(f"report: {result.report_md}")


@app.command("inspect")
def inspect_cmd(
    model: str = typer.Argument(
        ..., help="A .tflite file or a bundled model name ('default' = the recommended one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Print a .tflite's metadata, operator table and Edge TPU readiness (no TensorFlow)."""
    from converters.inspection import inspect_tflite, render_inspect
    from runtime.zoo import resolve_model

    report = inspect_tflite(resolve_model(model, what="MODEL"))
    typer.echo(json.dumps(report, indent=2) if as_json else render_inspect(report))
