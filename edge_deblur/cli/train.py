"""CLI commands of this group (filled in by its issue)."""

from __future__ import annotations

import typer

from edge_deblur.cli._common import ErrorHandlingGroup

app = typer.Typer(cls=ErrorHandlingGroup)
