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


def deliver(
    run_dir: Path = typer.Argument(..., help="a finished run folder, e.g. out/demo"),
    platform: str = typer.Option(..., "--platform", help="douyin | kuaishou | wechat-channels | hongguo | "
                                 "youtube-shorts | tiktok, or a preset YAML of your own"),
    out: Optional[Path] = typer.Option(None, help="delivery folder (default RUN_DIR/deliver/PLATFORM)"),
) -> None:
    """Make the folder a platform's upload asks for: the cut fitted to its preset, covers, subtitles and a
    checklist of every requirement with the measured value. Exits 1 when a requirement fails."""
    from microdrama.platforms import deliver as deliver_run

    folder, requirements = deliver_run(run_dir, platform, out)
    for r in requirements:
        typer.echo(f"  {'✓' if r.ok else '✗'} {r.requirement}: {r.measured} (required {r.required})")
    typer.echo(f"delivery: {folder} (checklist.md, checklist.json)")
    if not all(r.ok for r in requirements):
        raise typer.Exit(code=1)
