"""Pieces shared by the command modules: the error-handling group and small option helpers."""

from __future__ import annotations

import sys
import warnings

import typer
import typer.core

from runtime.errors import EdgeDeblurError


def fail(err: EdgeDeblurError) -> None:
    """Print a user error as one line on stderr and exit with its code (2)."""
    msg = " ".join(str(err).split())
    typer.echo(f"edge-deblur: error: {msg}", err=True)
    sys.stdout.flush()
    raise SystemExit(err.exit_code)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: one ``edge-deblur: warning:`` line, no source line."""
    msg = " ".join(str(message).split())
    print(f"edge-deblur: warning: {msg}", file=file or sys.stderr)


class ErrorHandlingGroup(typer.core.TyperGroup):
    """A Typer group that turns :class:`EdgeDeblurError` into a one-line message and exit code 2,
    and prints warnings as one line each."""

    def invoke(self, ctx: typer.Context):
        warnings.showwarning = _one_line_warning
        try:
            return super().invoke(ctx)
        except EdgeDeblurError as err:
            fail(err)
        except typer.TyperException as err:
            # A command's options failed to parse (click's UsageError, vendored by typer): one
            # line too, instead of a usage box. A missing subcommand still prints the help.
            if type(err).__name__ == "NoArgsIsHelpError" or getattr(err, "exit_code", 0) != 2:
                raise
            msg = " ".join(err.format_message().split())
            sub = getattr(err, "ctx", None)
            where = sub.command_path if sub is not None else ctx.command_path
            typer.echo(f"edge-deblur: error: {msg} (see `{where} --help`)", err=True)
            raise SystemExit(2) from None


def parse_size(text: str, name: str = "--input-size") -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``256x256``) into ``(H, W)``."""
    from runtime.errors import InputError, expected

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(expected(name, "HxW such as 256x256", text)) from None
    if h <= 0 or w <= 0:
        raise InputError(expected(name, "positive sizes HxW", text))
    return h, w


def ensemble_option():
    """``--ensemble``: copies of each frame deblurred and averaged (runtime.engine)."""
    return typer.Option(
        1,
        "--ensemble",
        help="Deblur 2, 4 or 8 flipped (at 8 also transposed) copies of each frame and average "
        "them: a little more gain for that many times the work (1 = off).",
    )


def strength_option():
    """``--strength``: the share of the model's correction applied (runtime.engine)."""
    return typer.Option(
        1.0,
        "--strength",
        min=0.0,
        max=2.0,
        help="Scale the model's correction: 1 as trained, lower on footage it overdoes "
        "(0 = pass-through), up to 2.",
    )
