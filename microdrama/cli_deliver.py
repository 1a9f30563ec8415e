"""CLI commands for deliverables a person hands over (registered on the main app in microdrama/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def export(
    run_dir: Path = typer.Argument(..., help="a finished run folder, e.g. out/demo"),
    format: str = typer.Option("otio", "--format", help="otio (OpenTimelineIO) | fcpxml (Final Cut Pro X)"),
    out: Optional[Path] = typer.Option(None, help="export folder (default RUN_DIR/export)"),
) -> None:
    """Export the run as an editable timeline: clean shot clips, dialogue, music, subtitles and label markers."""
    from microdrama.export import export_run

    target = export_run(run_dir, format, out)
    typer.echo(f"timeline: {target}")
    typer.echo(f"media: {target.parent / 'media'} (the folder is self-contained: hand it over as it is)")
