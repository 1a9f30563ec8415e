"""The `microdrama` command: a thin face over pipelines and skills, with no logic of its own.

Every command runs inside one error boundary (`_App.command`): a MicrodramaError — bad input, a
missing model, a failed render — prints one short message and exits 2, never a traceback.
Modules are imported inside the commands, so `microdrama validate` starts in about a second and
never loads Prefect.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

from microdrama.env import apply_offline_defaults
from microdrama.errors import MicrodramaError

# On the terminal a failed run shows one short error; Prefect's tracebacks go to OUT/microdrama.log. Progress
# lines still reach the run's log on the server (env.py: flow-run loggers at INFO, apart from the console).
# The library default (WARNING, env.py), inherited from a parent process, gives way too; any other level set on
# purpose is kept.
if os.environ.get("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING") == "WARNING":
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
apply_offline_defaults()

console = Console()
err = Console(stderr=True, soft_wrap=True)  # long paths stay whole, for copying


def _say(message: str) -> None:
    """Progress from a skill: user text (titles, lines, paths) printed as it is, never as markup."""
    err.print(message, markup=False, highlight=False)


def _boundary(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MicrodramaError as exc:
            err.print(f"[bold red]error:[/] {esc(str(exc))}", highlight=False)
            raise typer.Exit(code=2) from None
        except OSError as exc:  # a full or read-only disk, a folder where a file should be, no permission
            where = f" {exc.filename}" if exc.filename else ""
            err.print(f"[bold red]error:[/] cannot read or write{esc(where)}: {esc(exc.strerror or str(exc))}. "
                      "Check free space and permissions, or choose another --out.", highlight=False)
            raise typer.Exit(code=2) from None
    return guarded


@contextlib.contextmanager
def _flow_log(out: Path):
    """Warnings and errors of Prefect and the pipeline, with tracebacks, appended to OUT/microdrama.log;
    a failed run points there instead of printing a hundred lines."""
    if out.exists() and not out.is_dir():
        raise MicrodramaError(f"--out {out} is a file; give a folder for the run folders")
    out.mkdir(parents=True, exist_ok=True)
    from microdrama.env import prefect_server

    err.print(f"runs report to {prefect_server()}", markup=False, highlight=False)
    if not os.environ.get("PREFECT_API_URL"):
        from microdrama.processes import sweep_orphans

        stopped = sweep_orphans(os.environ["PREFECT_HOME"])
        if stopped:
            err.print(f"stopped {stopped} temporary Prefect server(s) left running by a killed run", markup=False)
    path = out / "microdrama.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("prefect")
    logger.addHandler(handler)
    try:
        yield
    except Exception:
        err.print(f"details: {path}", markup=False, highlight=False)
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()


class _App(typer.Typer):
    """A Typer whose every command runs inside the error boundary."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)
        return lambda fn: register(_boundary(fn))


app = _App(
    help="microdrama: produce AI micro-drama episodes (vertical 9:16, 1-3 min) from a brief.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
skills_app = _App(help="List and run individual skills from the skill library.", no_args_is_help=True)
app.add_typer(skills_app, name="skills")
ledger_app = _App(help="The R&D cost ledger: manual entries, verification, subsidy claim packs.",
                         no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
label_app = _App(help="AIGC labels (GB 45438-2025): apply and check visible marks, TC260 metadata, C2PA.",
                        no_args_is_help=True)
app.add_typer(label_app, name="label")
filing_app = _App(help="Filing packs: planning filing (规划备案) and online filing (上线备案).",
                         no_args_is_help=True)
app.add_typer(filing_app, name="filing")
# Commands that live in their own modules (they import nothing heavy until they run).
from microdrama import cli_agents, cli_assets, cli_deliver, cli_prefect  # noqa: E402

app.command("export")(cli_deliver.export)  # deliverables
app.command("deliver")(cli_deliver.deliver)  # platform packs
app.add_typer(cli_assets.assets_app, name="assets")  # the IP library
app.command("deploy")(cli_prefect.deploy)  # pools, deployments
app.command("worker")(cli_prefect.worker)  # a pinned worker
app.command("mcp")(cli_agents.mcp)  # the agent tool set over MCP
app.command("produce")(cli_agents.produce)  # the producer agent


def _demo_brief() -> Path:
    from microdrama.assets import ASSETS_DIR

    return ASSETS_DIR / "demo" / "brief.yaml"


BudgetOpt = typer.Option(None, "--budget", min=0, help="spending cap for model-API calls, in the rate card's "
                         "currency (RMB): refused before starting if the quote is over, stopped before crossing it")
TakesOpt = typer.Option(1, "--takes", min=1, max=20, help="generations per shot: take 1 goes into the cut, the "
                        "others are kept for review; the manifest reports usable-take rate and cost per minute")


def _render(source: Path, config: Optional[Path], out: Path, name: str, force: bool,
            visual: str | None = None, budget: float | None = None, takes: int = 1) -> None:
    from microdrama.config import ProjectConfig
    from microdrama.domain import read_source
    from microdrama.run import check_run_name, check_stages, configure

    cfg, notes = configure(ProjectConfig.load(config), visual=visual)
    read_source(source)  # fail fast, before Prefect starts
    check_run_name(name)
    check_stages(cfg)
    for note in notes:
        err.print(note, markup=False)
    from microdrama.pipelines.episode import episode_flow

    with _flow_log(out):
        summary = episode_flow(source=source, config=cfg, out_dir=out, run_name=name, force=force, budget_rmb=budget,
                               takes=takes)
    table = Table(title=f"Run {summary.run_id}", show_header=False)
    for key, value in [("video", summary.video), ("length", f"{summary.duration_s:.1f} s"),
                       ("shots / lines", f"{summary.shots} / {summary.lines}"),
                       ("wall time", f"{summary.wall_seconds:.1f} s"),
                       ("steps run / reused", f"{summary.steps_run} / {summary.steps_cached}"),
                       *([("cost this run", f"{summary.cost.this_run} RMB"),
                          ("cost episode total", f"{summary.cost.episode_total} RMB "
                                                 f"({summary.cost.per_finished_minute} RMB per finished minute)")]
                         if summary.cost else []),
                       ("storyboard", str(Path(summary.run_dir) / "storyboard.html")),
                       ("manifest", str(Path(summary.run_dir) / "manifest.json"))]:
        table.add_row(key, Text(value))
    console.print(table)


@app.command()
def demo(
    brief: Optional[Path] = typer.Option(None, help="brief YAML to render instead of the bundled demo"),
    config: Optional[Path] = typer.Option(None, help="project config YAML (see README, 'Configuration')"),
    out: Path = typer.Option(Path("out"), help="output root; the run folder is OUT/NAME"),
    name: str = typer.Option("demo", help="run folder name under OUT"),
    force: bool = typer.Option(False, "--force", help="re-render every step even if cached"),
    visual: str = typer.Option("animatic", help="animatic (CPU previz) or video (a diffusers video model, GPU)"),
    budget: Optional[float] = BudgetOpt,
    takes: int = TakesOpt,
) -> None:
    """Render the bundled demo episode (Chinese revenge drama, ~60 s) on the CPU."""
    _render(brief or _demo_brief(), config, out, name, force, visual, budget, takes)


@app.command()
def episode(
    source: Path = typer.Argument(..., help="a brief or a screenplay (YAML or JSON)"),
    config: Optional[Path] = typer.Option(None, help="project config YAML"),
    out: Path = typer.Option(Path("out"), help="output root"),
    name: Optional[str] = typer.Option(None, help="run folder name (default: the source file's stem)"),
    force: bool = typer.Option(False, "--force", help="re-render every step even if cached"),
    budget: Optional[float] = BudgetOpt,
    takes: int = TakesOpt,
    via_studio: Optional[str] = typer.Option(None, "--via-studio", help="render on a running studio's warm "
                                             "worker (its address, e.g. http://127.0.0.1:8765): no start-up"),
) -> None:
    """Render one episode from a brief or a hand-edited screenplay."""
    if via_studio:
        return _render_via_studio(via_studio, source, name or source.stem, takes)
    _render(source, config, out, name or source.stem, force, budget=budget, takes=takes)


def _render_via_studio(address: str, source: Path, name: str, takes: int) -> None:
    """Hand the render to a running studio and follow its progress: the studio's out folder and config apply."""
    import time

    import httpx

    token = os.environ.get("MICRODRAMA_STUDIO_TOKEN")
    headers = {"accept": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    try:
        with httpx.Client(base_url=address.rstrip("/"), headers=headers, timeout=30) as client:
            session = client.get("/api/session")
            if session.status_code != 200:
                raise MicrodramaError(f"the studio at {address} refused: {session.text.strip()[:200]}")
            answer = client.post("/api/render", json={"source": str(source.resolve()), "name": name,
                                                      "takes": takes, "csrf": session.json()["csrf"]})
            if answer.status_code != 202:
                raise MicrodramaError(answer.json().get("error", answer.text[:300]))
            job, shown = answer.json()["job"], 0
            while job["state"] in ("queued", "running"):
                time.sleep(0.3)
                job = client.get(f"/api/jobs/{job['id']}").json()
                for line in job["lines"][shown:]:
                    _say(line)
                shown = len(job["lines"])
    except httpx.HTTPError as exc:
        raise MicrodramaError(f"cannot reach the studio at {address} ({exc}); start it with `microdrama studio`") from None
    if job["state"] != "done":
        raise MicrodramaError(f"the studio's render failed: {job['error']}")
    console.print(f"done in {job['seconds']:.1f} s on the studio's warm worker: "
                  f"{session.json()['out']}/{name}/episode.mp4", markup=False)


@app.command()
def studio(
    out: Path = typer.Option(Path("out"), help="the output root whose run folders the studio shows"),
    host: str = typer.Option("127.0.0.1", help="address to listen on; anything but loopback needs --token"),
    port: int = typer.Option(8765, min=1, max=65535),
    token: Optional[str] = typer.Option(None, envvar="MICRODRAMA_STUDIO_TOKEN",
                                        help="access token (required off loopback): open the printed address once"),
    config: Optional[Path] = typer.Option(None, help="project config for episodes that have no manifest yet"),
    budget: Optional[float] = typer.Option(None, "--budget", min=0, help="model-API spending cap per episode (RMB)"),
) -> None:
    """Review, approve, redo and edit takes in the browser, with one warm render worker."""
    import secrets

    import uvicorn

    from microdrama.config import ProjectConfig
    from microdrama.pipelines.studio import RenderWorker
    from microdrama.studio.app import LOOPBACK, create_app

    if host not in LOOPBACK and not token:
        raise MicrodramaError(f"--host {host} opens the studio to the network: give --token (or set "
                              "MICRODRAMA_STUDIO_TOKEN), e.g. --token " + secrets.token_urlsafe(16))
    cfg = ProjectConfig.load(config) if config else None
    with _flow_log(out):
        application = create_app(out, RenderWorker().start(), token=token, config=cfg, budget_rmb=budget)
        address = f"http://{'[' + host + ']' if ':' in host else host}:{port}/" + (f"?token={token}" if token else "")
        err.print(f"studio: open {address}  (Ctrl-C to stop)", markup=False, highlight=False)
        uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def quote(
    source: Path = typer.Argument(..., help="a brief or a screenplay (YAML or JSON)"),
    config: Optional[Path] = typer.Option(None, help="project config YAML (its stages, accounts and rate card)"),
    takes: int = typer.Option(1, min=1, max=20, help="takes planned per shot"),
    save: Optional[Path] = typer.Option(None, "--json", help="also write the quote as JSON here"),
) -> None:
    """Price an episode's model-API calls from its plan and the rate card, before anything is paid for."""
    from microdrama.config import ProjectConfig
    from microdrama.domain import read_source
    from microdrama.files import atomic_write_text
    from microdrama.quote import quote_episode
    from microdrama.run import check_stages, configure

    cfg, _ = configure(ProjectConfig.load(config))
    check_stages(cfg, keys=False)  # pricing sends nothing: no key needed yet
    q = quote_episode(read_source(source), cfg, takes=takes)
    table = Table(title=f"Quote: {q.total} {q.currency} ({takes} take(s) per shot)")
    for col in ("stage", "skill", "item", "quantities", q.currency, "vendor"):
        table.add_column(col, overflow="fold")
    for line in q.lines:
        table.add_row(line.stage, line.skill, Text(line.item),
                      ", ".join(f"{k} {v:g}" for k, v in line.quantities.items()), line.amount, Text(line.vendor or ""))
    for stage, amount in q.by_stage.items():
        table.add_row(f"[bold]{stage}[/]", "", "total", "", f"[bold]{amount}[/]", "")
    console.print(table)
    console.print(q.note, markup=False)
    if save:
        atomic_write_text(save, q.model_dump_json(indent=2))


@app.command()
def series(
    spec: Path = typer.Argument(..., help="series YAML: `title` plus `episodes: [files]` or `brief:` + `count:`"),
    config: Optional[Path] = typer.Option(None, help="project config YAML"),
    out: Path = typer.Option(Path("out"), help="output root; episodes go to OUT/<series>-epNN"),
    parallel: int = typer.Option(2, min=1, max=32, help="episodes rendered at the same time"),
    force: bool = typer.Option(False, "--force", help="re-render every step even if cached"),
    budget: Optional[float] = BudgetOpt,
    takes: int = TakesOpt,
    deployment: Optional[str] = typer.Option(None, help="episode deployment to run episodes on workers "
                                             "(`microdrama deploy` makes `episode/microdrama-gpu`)"),
) -> None:
    """Render a whole series; a failed episode is reported and the others still finish (exit 1 if any failed)."""
    from microdrama.config import ProjectConfig
    from microdrama.domain import load_model
    from microdrama.run import check_stages, configure

    cfg, notes = configure(ProjectConfig.load(config))
    check_stages(cfg)
    for note in notes:
        err.print(note, markup=False)
    from microdrama.pipelines.series import SeriesSpec, run_series

    load_model(SeriesSpec, spec)  # fail fast on a bad spec
    with _flow_log(out):
        summary = run_series(spec_path=spec, config=cfg, out_dir=out, parallel=parallel, force=force,
                             budget_rmb=budget, takes=takes, deployment=deployment)
    table = Table(title=f"{summary.title}: {len(summary.episodes) - len(summary.failed)}/{len(summary.episodes)} "
                        f"episodes in {summary.wall_seconds:.0f} s")
    for col in ("episode", "result", "length", "wall", "steps run", "cost (RMB)"):
        table.add_column(col, overflow="fold")
    for e in summary.episodes:
        table.add_row(Text(e.name), "[green]ok[/]" if e.ok else f"[red]failed[/]: {esc(e.error or '')}",
                      f"{e.duration_s:.1f} s" if e.duration_s else "—", f"{e.wall_seconds:.0f} s", str(e.steps_run),
                      e.cost_rmb or "—")
    console.print(table)
    if summary.continuity is not None:
        found = summary.continuity.issues
        console.print(f"continuity: {len(found)} issue(s) across episodes {summary.continuity.episodes}"
                      + ("" if found else " — the episodes read as one story"), markup=False)
        for issue in found[:10]:
            console.print(f"  ep{issue.episode} {issue.shot_id or ''} [{issue.kind}] {issue.detail}", markup=False)
    if summary.failed:
        raise typer.Exit(code=1)


@app.command()
def transcribe(
    media: Path = typer.Argument(..., help="audio or video file (WAV, MP3, MP4…)"),
    out: Optional[Path] = typer.Option(None, help="output file stem (default: next to the input)"),
    formats: str = typer.Option("srt,vtt", "--format", help="comma-separated: srt, vtt, ass, txt, json"),
    language: Optional[str] = typer.Option(None, help="e.g. en, zh; default: detect (multilingual models)"),
    model: Optional[Path] = typer.Option(None, help="Whisper model folder (default: config, else bundled tiny.en)"),
    config: Optional[Path] = typer.Option(None, help="project config YAML (whisper: section)"),
    chunk: float = typer.Option(600.0, help="seconds per chunk for long files"),
) -> None:
    """Transcribe external footage to subtitles with Whisper (word timestamps, long files in chunks)."""
    from microdrama.config import ProjectConfig
    from microdrama.registry import default_registry
    from microdrama.skill import SkillContext
    from microdrama.stages import TranscribeInput
    from microdrama.whisper import write_transcript

    skill = default_registry().create("transcribe-whisper")
    options = ProjectConfig.load(config).whisper
    if model is not None:
        options = options.model_copy(update={"model_path": model})
    stem = out or media.with_suffix("")
    result = skill(TranscribeInput(audio=str(media), language=language, chunk_s=chunk),
                   SkillContext(stem.parent, log=_say), options)
    t = result.output
    written = write_transcript(t, stem, [f.strip() for f in formats.split(",") if f.strip()])
    console.print(f"{len(t.segments)} segments, language {t.language}, {t.duration_s:.1f} s "
                  f"({result.usage.wall_seconds:.1f} s to transcribe): " + ", ".join(map(str, written)))


@app.command()
def new(name: str = typer.Argument(..., help="project folder to create"),
        parent: Path = typer.Option(Path("."), help="where to create it")) -> None:
    """Scaffold your own project: brief, config, a custom skill wired in by entry point, and a test."""
    from microdrama.scaffold import create_project

    folder = create_project(name, parent)
    console.print(f"created {folder}. Next: cd {folder} && pip install -e . && pytest", markup=False)


solution_app = _App(help="Demo industry solutions (城市形象·文旅, brand, overseas).", no_args_is_help=True)
app.add_typer(solution_app, name="solution")


@solution_app.command("list")
def solution_list() -> None:
    """List the bundled demo solutions."""
    from microdrama.assets import ASSETS_DIR

    for folder in sorted((ASSETS_DIR / "solutions").iterdir()):
        readme = folder / "README.md"
        first = readme.read_text(encoding="utf-8").splitlines()[0].lstrip("# ") if readme.exists() else ""
        console.print(f"[bold]{esc(folder.name)}[/]  {esc(first)}")


@solution_app.command("run")
def solution_run(name: str = typer.Argument(..., help="city-image | brand | overseas"),
                 out: Path = typer.Option(Path("out/solutions"), help="output root"),
                 quick: bool = typer.Option(False, "--quick", help="first episode only, small frames (a first look)"),
                 parallel: int = typer.Option(2, min=1, max=16)) -> None:
    """Render a demo solution: episodes, storyboards, cost report, label checks and filing packs."""
    from microdrama.pipelines.solution import run_solution

    with _flow_log(out):
        result = run_solution(name, out, quick=quick, parallel=parallel)
    for e in result.series.episodes:
        console.print(f"{esc(e.name)}: " + (f"[green]ok[/] {esc(str(e.video))} ({e.duration_s:.1f} s)" if e.ok
                                             else f"[red]{esc(e.error or '')}[/]"))
    if result.claim_html:
        console.print(f"cost report: {result.claim_html}", markup=False)
    for f in result.filing:
        console.print(f"filing: {f}", markup=False)
    if result.series.failed:
        raise typer.Exit(code=1)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="a brief, screenplay or config file"),
    kind: str = typer.Option("auto", help="auto | brief | screenplay | config"),
    config: Optional[Path] = typer.Option(None, help="project config YAML: a screenplay is checked against its "
                                                     "subtitle size and frame"),
) -> None:
    """Check a brief, screenplay or config and explain every problem, field by field; a screenplay's lines
    must also fit their subtitles."""
    from microdrama.config import ProjectConfig
    from microdrama.domain import Brief, Screenplay, load_model, read_source

    types = {"brief": Brief, "screenplay": Screenplay, "config": ProjectConfig}
    if kind not in ("auto", *types):
        raise MicrodramaError(f"--kind must be one of auto, {', '.join(types)}; got {kind!r}")
    model = read_source(path) if kind == "auto" else load_model(types[kind], path)
    if isinstance(model, Screenplay):  # the subtitle fit rendering would check, before anything is spent
        from microdrama.run import check_subtitles_fit

        check_subtitles_fit(model, ProjectConfig.load(config))
    console.print(f"[green]ok[/]: {esc(str(path))} is a valid {type(model).__name__}")


@skills_app.command("list")
def skills_list(stage: Optional[str] = typer.Option(None, help="only skills of this stage")) -> None:
    """Show every registered skill (built-in and from installed skill packs)."""
    from microdrama.registry import default_registry

    registry = default_registry()
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
    config: Optional[Path] = typer.Option(None, help="project config YAML: the skill's options and the LLM server"),
) -> None:
    """Run one skill on an input file; prints its output and usage as JSON.

    The file holds the stage's input fields and, optionally, `options:` for this skill, which override the
    config's (and, for LLM skills, the MICRODRAMA_LLM_* server, as every other command reads it)."""
    from microdrama.config import ProjectConfig
    from microdrama.domain import read_yaml
    from microdrama.registry import default_registry
    from microdrama.run import configure
    from microdrama.skill import SkillContext

    skill = default_registry().create(name)
    if schema:
        console.print_json(json.dumps({"input": skill.Input.model_json_schema(),
                                       "options": skill.Options.model_json_schema()}))
        return
    data = read_yaml(input, "Pass --input a YAML or JSON file with the stage's input fields.") or {}
    given = data.pop("options", None) if isinstance(data, dict) else None
    configured = skill.options_from_config(configure(ProjectConfig.load(config))[0])
    options = {**configured, **given} if isinstance(given, dict) else (given if given is not None else configured)
    result = skill(skill.parse_input(data), SkillContext(out / name, log=_say), skill.parse_options(options))
    sys.stdout.write(json.dumps({"output": result.output.model_dump(mode="json"),
                                 "usage": result.usage.model_dump(mode="json")}, ensure_ascii=False, indent=2) + "\n")


# ---- ledger -------------------------------------------------------------------------------------

LedgerOpt = typer.Option(None, "--ledger", envvar="MICRODRAMA_LEDGER_URL",
                         help="ledger URL (default: the config's, else sqlite:///out/ledger.sqlite)")
ConfigOpt = typer.Option(None, "--config", help="project config YAML (for ledger URL, rate card, evidence dir)")


def _open_ledger(url: Optional[str], config: Optional[Path]):
    from microdrama.config import ProjectConfig
    from microdrama.ledger.manual import open_books

    return open_books(url, ProjectConfig.load(config).ledger)


def _parse_date(value: Optional[str], name: str):
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise MicrodramaError(f"{name}: {value!r} is not a date; use YYYY-MM-DD") from None


@ledger_app.command("verify")
def ledger_verify(ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt,
                  checkpoint: list[Path] = typer.Option([], help="checkpoint file or folder, repeatable "
                                                                 "(the evidence store's are always used)")) -> None:
    """Recompute the hash chain and compare it with every checkpoint; name every edited, inserted,
    deleted or truncated row. Exit 1 if broken."""
    from microdrama.ledger.manual import load_checkpoints

    led, _, evidence = _open_ledger(ledger, config)
    result = led.verify(load_checkpoints(*[p for p in [evidence.root / "checkpoints"] if p.is_dir()], *checkpoint))
    (console if result.ok else err).print(result.describe(), highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(code=1)


@ledger_app.command("checkpoint")
def ledger_checkpoint(ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt,
                      out: Optional[Path] = typer.Option(None, help="also write it to this folder (keep a copy "
                                                                    "outside the database's machine)")) -> None:
    """Record the chain's head (entry, hash, count) outside the database, so `ledger verify` can later
    prove that no entry up to it was deleted, truncated or rewritten."""
    from microdrama.ledger.manual import save_checkpoint

    led, _, evidence = _open_ledger(ledger, config)
    cp = led.checkpoint()
    written = [save_checkpoint(cp, evidence.root / "checkpoints"), *([save_checkpoint(cp, out)] if out else [])]
    console.print(f"checkpoint at entry {cp.seq} ({cp.entries} entries, head {cp.entry_hash[:16]}…): "
                  + ", ".join(map(str, written)), markup=False)


@ledger_app.command("add")
def ledger_add(
    category: str = typer.Option(..., help="compute_rental | model_api | corpus | staff | equipment | software | other"),
    project: str = typer.Option(..., help="R&D project code"),
    on: str = typer.Option(..., "--date", help="date incurred, YYYY-MM-DD"),
    amount: Optional[str] = typer.Option(None, help="amount (staff time may leave it out: priced by role)"),
    currency: str = typer.Option("RMB"),
    fx_rate: Optional[str] = typer.Option(None, help="RMB per unit of currency (needed unless RMB)"),
    description: str = typer.Option(""),
    vendor: Optional[str] = typer.Option(None), contract_no: Optional[str] = typer.Option(None),
    invoice_no: Optional[str] = typer.Option(None),
    affiliated: Optional[bool] = typer.Option(None, "--affiliated/--not-affiliated", help="corpus: vendor affiliated?"),
    declaration_ref: Optional[str] = typer.Option(None, help="signed non-affiliation declaration reference"),
    person: Optional[str] = typer.Option(None), role: Optional[str] = typer.Option(None),
    hours: Optional[str] = typer.Option(None),
    evidence: list[str] = typer.Option([], help="kind=path, repeatable: invoice=inv.pdf contract=c.pdf"),
    ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt,
) -> None:
    """Record a manual cost: an invoice, a corpus purchase, staff time, equipment."""
    from microdrama.domain import parse_model
    from microdrama.ledger.manual import ManualEntry

    fields = {"category": category, "project": project, "date": on, "amount": amount, "currency": currency,
              "fx_rate": fx_rate, "description": description, "vendor": vendor, "contract_no": contract_no,
              "invoice_no": invoice_no, "affiliated": affiliated, "declaration_ref": declaration_ref,
              "person": person, "role": role, "hours": hours, "evidence": evidence}
    entry = parse_model(ManualEntry, {k: v for k, v in fields.items() if v not in (None, [])}, "ledger add")
    led, rates, store = _open_ledger(ledger, config)
    seq, _ = led.append(entry.to_entry(rates, store, Path.cwd()))
    console.print(f"recorded as seq {seq}")


@ledger_app.command("import")
def ledger_import(csv_file: Path = typer.Argument(..., help="CSV with columns category,date,project,amount,…"),
                  ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt) -> None:
    """Import manual entries from CSV: every row is checked first; all are recorded or none."""
    from microdrama.ledger.manual import import_csv

    if not csv_file.is_file():
        raise MicrodramaError(f"{csv_file}: no such file")
    led, rates, store = _open_ledger(ledger, config)
    seqs = import_csv(csv_file, led, rates, store)
    console.print(f"imported {len(seqs)} entries" + (f" (seq {seqs[0]}–{seqs[-1]})" if seqs else " (already imported)"))


@ledger_app.command("reverse")
def ledger_reverse(seq: int = typer.Argument(..., help="the entry to cancel"),
                   reason: str = typer.Option(..., help="why (kept in the ledger)"),
                   ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt) -> None:
    """Correct a mistake with a reversing entry (entries are never edited)."""
    new = _open_ledger(ledger, config)[0].reverse(seq, reason)
    console.print(f"seq {seq} reversed by seq {new}")


@ledger_app.command("list")
def ledger_list(project: Optional[str] = typer.Option(None), run: Optional[str] = typer.Option(None, help="run id"),
                ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt) -> None:
    """Show ledger entries with their rate references."""
    rows = _open_ledger(ledger, config)[0].entries(project=project, run_id=run)
    table = Table(title=f"ledger ({len(rows)} entries)")
    for col in ("seq", "date", "kind", "category", "project", "RMB", "what", "rate"):
        table.add_column(col, overflow="fold")
    for e in rows:
        table.add_row(str(e.seq), e.occurred_on.isoformat(), e.kind, e.category, Text(e.project_code),
                      f"{e.amount_rmb_stored:.4f}", Text(e.description or (e.vendor or "")), e.rate_ref or "")
    console.print(table)


@ledger_app.command("claim")
def ledger_claim(
    project: str = typer.Option(..., help="R&D project code"),
    start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
    end: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD"),
    out: Optional[Path] = typer.Option(None, help="output folder (default out/claims/PROJECT_FROM_TO)"),
    rules: Optional[Path] = typer.Option(None, help="policy rules YAML (default: bundled, dated, with sources)"),
    runs: Optional[Path] = typer.Option(None, help="output root of the runs (e.g. out): adds quote vs actual spend"),
    ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt,
) -> None:
    """Write a subsidy claim pack: XLSX, CSV and an HTML report with charts and an evidence checklist."""
    from microdrama.ledger.claim import build_claim, quote_rows, write_claim_pack
    from microdrama.ledger.policy import PolicyRules

    first, last = _parse_date(start, "--from"), _parse_date(end, "--to")
    if first > last:
        raise MicrodramaError(f"--from {first} is after --to {last}")
    from microdrama.ledger.manual import load_checkpoints, save_checkpoint

    led, _, evidence = _open_ledger(ledger, config)
    kept = evidence.root / "checkpoints"
    from microdrama.config import ProjectConfig

    claim = build_claim(led, PolicyRules.load(rules), project, first, last,  # filing.city_image: the +50% line
                        load_checkpoints(kept) if kept.is_dir() else [],
                        city_image=ProjectConfig.load(config).filing.city_image)
    if runs is not None:
        claim.quotes = quote_rows(runs, project, first, last)
    if claim.checkpoint is not None:
        save_checkpoint(claim.checkpoint, kept)
    folder = out or Path("out/claims") / f"{project}_{first}_{last}"
    paths = write_claim_pack(claim, folder)
    table = Table(title=f"claim {project} {first} – {last}: total {claim.total:,.2f} RMB")
    for col in ("programme", "eligible", "supported", "excluded"):
        table.add_column(col, overflow="fold")
    for r in claim.programmes:
        excluded = sum((e.amount_rmb_stored for e, _ in r.excluded), 0)
        table.add_row(r.programme.name, f"{r.eligible:,.2f}", f"{r.subsidy:,.2f}" + (" (cap)" if r.capped else ""),
                      f"{excluded:,.2f}")
    console.print(table)
    console.print(f"evidence gaps: {len(claim.gaps)} · chain: {'valid' if claim.verification.ok else 'BROKEN'}")
    for kind, path in paths.items():
        console.print(f"  {kind}: {path}")


# ---- labels and filing -----------------------------------------------------------------------------


@label_app.command("check")
def label_check(
    files: list[Path] = typer.Argument(..., help="MP4, WAV, PNG or JPEG files"),
    require_c2pa: bool = typer.Option(False, "--require-c2pa", help="fail files without valid C2PA credentials"),
    trust: Optional[Path] = typer.Option(None, help="PEM trust anchors for C2PA validation"),
    as_json: bool = typer.Option(False, "--json", help="print the reports as JSON"),
) -> None:
    """Read every label back and report pass/fail per clause; exit 1 if any file fails (a publishing gate)."""
    from microdrama.labels.check import check_file

    reports = []
    for f in files:
        if not f.is_file():
            raise MicrodramaError(f"{f}: no such file")
        reports.append(check_file(f, require_c2pa=require_c2pa, trust_anchors=trust))
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2) + "\n")
    else:
        for r in reports:
            console.print(f"[bold]{esc(r.path)}[/]: " + ("[green]PASS[/]" if r.ok else "[red]FAIL[/]"))
            for c in r.clauses:
                console.print(f"  {'✓' if c.ok else '✗'} {c.clause} — {c.detail}", highlight=False, markup=False)
            for w in r.warnings:
                console.print(f"  [yellow]! {esc(w)}[/]")
    if not all(r.ok for r in reports):
        raise typer.Exit(code=1)


@label_app.command("apply")
def label_apply(files: list[Path] = typer.Argument(..., help="files to label in place"),
                config: Optional[Path] = ConfigOpt,
                content_id: str = typer.Option("manual", help="content ID prefix (ProduceID)")) -> None:
    """Embed TC260 metadata (and C2PA credentials when configured) into existing files."""
    from microdrama.config import ProjectConfig
    from microdrama.labels.apply import label_file
    from microdrama.labels.tc260 import check_value

    try:
        check_value("--content-id", content_id)
    except ValueError as exc:
        raise MicrodramaError(str(exc)) from None
    cfg = ProjectConfig.load(config)
    for f in files:
        if not f.is_file():
            raise MicrodramaError(f"{f}: no such file")
        label = label_file(f, cfg.labels, produce_id=f"{content_id}-{f.stem}")
        console.print(f"{f}: labelled ({label.reserved_code1[:20]}…)", markup=False)


@filing_app.command("plan")
def filing_plan(
    source: Path = typer.Argument(..., help="a screenplay, or a run folder (out/<run>) holding screenplay.json"),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("out/filing"), help="output folder"),
    on: Optional[str] = typer.Option(None, "--date", help="filing date (default today), YYYY-MM-DD"),
) -> None:
    """Planning filing (规划备案): title, subject, outline, themes, budget, AI declaration, review tier."""
    from datetime import date
    from decimal import Decimal

    from microdrama.config import ProjectConfig
    from microdrama.domain import Screenplay, load_model
    from microdrama.filing import plan_pack, write_pack
    from microdrama.run import Manifest

    per_minute = None
    if source.is_dir():
        sp = load_model(Screenplay, source / "screenplay.json")
        manifest = Manifest.read(source)
        per_minute = Decimal(manifest.cost.per_finished_minute) if manifest.cost else None
    else:
        sp = load_model(Screenplay, source)
    pack = plan_pack(sp, ProjectConfig.load(config), _parse_date(on, "--date") or date.today(), per_minute)
    paths = write_pack(pack, out, "plan")
    fields = dict(pack.rows)
    console.print(f"review tier: [bold]{esc(fields['审查层级 review tier'])}[/] — {esc(fields['层级依据 tier basis'])}")
    for kind, path in paths.items():
        console.print(f"  {kind}: {path}")


@filing_app.command("online")
def filing_online(runs: list[Path] = typer.Argument(..., help="finished run folders, one per episode"),
                  config: Optional[Path] = ConfigOpt,
                  out: Path = typer.Option(Path("out/filing"), help="output folder")) -> None:
    """Online filing (上线备案): durations, synopses, content hashes, label checks, actual cost, credits."""
    from microdrama.config import ProjectConfig
    from microdrama.filing import FiledEpisode, online_pack, write_pack

    pack = online_pack([FiledEpisode.from_run_dir(r) for r in runs], ProjectConfig.load(config))
    paths = write_pack(pack, out, "online")
    for item in pack.table or []:
        console.print(f"episode {item['episode']}: {item['duration_s']} s, label check {item['label_check']}",
                      markup=False)
    for kind, path in paths.items():
        console.print(f"  {kind}: {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
