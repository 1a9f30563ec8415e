"""The `microdrama` command: a thin face over pipelines and skills, with no logic of its own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from microdrama.env import apply_offline_defaults
from microdrama.errors import MicrodramaError

apply_offline_defaults()

app = typer.Typer(
    help="microdrama: produce AI micro-drama episodes (vertical 9:16, 1-3 min) from a brief.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
skills_app = typer.Typer(help="List and run individual skills from the skill library.", no_args_is_help=True)
app.add_typer(skills_app, name="skills")
console = Console()
err = Console(stderr=True)



def _demo_brief() -> Path:
    from microdrama.assets import ASSETS_DIR

    return ASSETS_DIR / "demo" / "brief.yaml"


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(code=2)


def _render(source: Path, config: Optional[Path], out: Path, name: str, force: bool) -> None:
    try:
        from microdrama.config import ProjectConfig
        from microdrama.pipelines.episode import episode_flow, read_source

        cfg = ProjectConfig.load(config)
        read_source(source)  # fail fast, before Prefect starts
        summary = episode_flow(source=source, config=cfg, out_dir=out, run_name=name, force=force)
    except MicrodramaError as exc:
        _fail(exc)
        return
    table = Table(title=f"Run {summary.run_id}", show_header=False)
    for key, value in [("video", summary.video), ("length", f"{summary.duration_s:.1f} s"),
                       ("shots / lines", f"{summary.shots} / {summary.lines}"),
                       ("wall time", f"{summary.wall_seconds:.1f} s"),
                       ("steps run / reused", f"{summary.steps_run} / {summary.steps_cached}"),
                       ("storyboard", str(Path(summary.run_dir) / "storyboard.html")),
                       ("manifest", str(Path(summary.run_dir) / "manifest.json"))]:
        table.add_row(key, value)
    console.print(table)


@app.command()
def demo(
    brief: Optional[Path] = typer.Option(None, help="brief YAML to render instead of the bundled demo"),
    config: Optional[Path] = typer.Option(None, help="project config YAML (see README, 'Configuration')"),
    out: Path = typer.Option(Path("out"), help="output root; the run folder is OUT/NAME"),
    name: str = typer.Option("demo", help="run folder name under OUT"),
    force: bool = typer.Option(False, "--force", help="re-render every step even if cached"),
) -> None:
    """Render the bundled demo episode (Chinese revenge drama, ~50 s) on the CPU."""
    _render(brief or _demo_brief(), config, out, name, force)


@app.command()
def episode(
    source: Path = typer.Argument(..., help="a brief or a screenplay (YAML or JSON)"),
    config: Optional[Path] = typer.Option(None, help="project config YAML"),
    out: Path = typer.Option(Path("out"), help="output root"),
    name: Optional[str] = typer.Option(None, help="run folder name (default: the source file's stem)"),
    force: bool = typer.Option(False, "--force", help="re-render every step even if cached"),
) -> None:
    """Render one episode from a brief or a hand-edited screenplay."""
    _render(source, config, out, name or source.stem, force)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="a brief, screenplay or config file"),
    kind: str = typer.Option("auto", help="auto | brief | screenplay | config"),
) -> None:
    """Check a brief, screenplay or config and explain every problem, field by field."""
    from microdrama.config import ProjectConfig
    from microdrama.domain import Brief, Screenplay, load_model

    try:
        if kind == "auto":
            from microdrama.pipelines.episode import read_source

            model = read_source(path)
        else:
            types = {"brief": Brief, "screenplay": Screenplay, "config": ProjectConfig}
            if kind not in types:
                raise MicrodramaError(f"--kind must be one of auto, {', '.join(types)}; got {kind!r}")
            model = load_model(types[kind], path)
    except MicrodramaError as exc:
        _fail(exc)
        return
    console.print(f"[green]ok[/]: {path} is a valid {type(model).__name__}")


@skills_app.command("list")
def skills_list(stage: Optional[str] = typer.Option(None, help="only skills of this stage")) -> None:
    """Show every registered skill (built-in and from installed skill packs)."""
    from microdrama.registry import default_registry

    try:
        registry = default_registry()
    except MicrodramaError as exc:
        _fail(exc)
        return
    table = Table(title="microdrama skills")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("stage", no_wrap=True)
    for col in ("version", "backend", "from", "description"):
        table.add_column(col, overflow="fold")
    for name in registry.names(stage):
        cls = registry.get(name)
        table.add_row(name, cls.stage, cls.version, cls.backend, registry.origin(name), cls.description)
    console.print(table)


@skills_app.command("run")
def skills_run(
    name: str = typer.Argument(..., help="skill name from `microdrama skills list`"),
    input: Path = typer.Option(..., "--input", "-i", help="JSON or YAML file with the skill's input fields"),
    out: Path = typer.Option(Path("out/skills"), help="folder the skill may write into"),
    schema: bool = typer.Option(False, "--schema", help="print the input's JSON schema and exit"),
) -> None:
    """Run one skill on an input file; prints its output and usage as JSON."""
    import yaml

    from microdrama.registry import default_registry
    from microdrama.skill import SkillContext

    try:
        skill = default_registry().create(name)
        if schema:
            console.print_json(json.dumps(skill.Input.model_json_schema()))
            return
        if not input.is_file():
            raise MicrodramaError(f"--input {input}: no such file")
        data = yaml.safe_load(input.read_text(encoding="utf-8"))
        result = skill(skill.parse_input(data or {}), SkillContext(out / name, log=err.print))
    except MicrodramaError as exc:
        _fail(exc)
        return
    sys.stdout.write(json.dumps({"output": result.output.model_dump(mode="json"),
                                 "usage": result.usage.model_dump(mode="json")}, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":  # pragma: no cover
    app()
