"""The series flow: many episodes that read as one story, a bounded number rendered at a time.

Every episode is a child flow run of the `series` run, named `<series>-epNN` and tagged with the project
code, the series and the episode: locally a subflow, `parallel` at a time; with `deployment` (an episode
deployment, `episode/microdrama-gpu`) a run of that deployment, so the episodes spread over the pool's
workers. One episode failing (a bad screenplay, a crashed model, a worker that died) is recorded; the others
still finish, and then the series run fails with a summary naming the failed ones. Re-running the series
resumes it: an episode already finished from the same source and config (its manifest.json says
`complete`) is not run again, and everything else goes through the same content-addressed store and ledger,
so only what is missing or changed is redone.

A series written from one brief chains its episodes: each opens on the last one's cliffhanger.
The rule-based writer knows every episode's cliffhanger from the brief alone, so its episodes
still render in parallel; any other writer (an LLM) is handed the previous episode's cliffhanger
(`Brief.previously`), so those episodes are written one after another. At the end the continuity
stage reads every episode and its findings go into `series.json` and `continuity.json`.
"""

# No `from __future__ import annotations`: a deployment re-validates the flow's parameters in its own process.
import contextvars
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from prefect import flow, tags
from pydantic import BaseModel, Field, model_validator

from microdrama.config import ProjectConfig
from microdrama.domain import Brief, Previously, Screenplay, Strict, dump_yaml, folder_name, load_model
from microdrama.errors import InputError, MicrodramaError
from microdrama.files import atomic_write_text, sha256_file
from microdrama.pipelines.episode import episode_flow
from microdrama.pipelines.reporting import publish_series_artifact
from microdrama.registry import default_registry
from microdrama.run import Manifest, Run
from microdrama.stages import ContinuityInput, ContinuityReport


class SeriesSpec(Strict):
    """Either a list of episode files (briefs or screenplays), or one brief and a count."""

    title: str = Field(min_length=1, description="series name; names the run folders")
    episodes: list[Path] = Field(default_factory=list, description="brief or screenplay files, in order")
    brief: Path | None = Field(None, description="one brief to write episodes 1..count from")
    count: int | None = Field(None, ge=1, le=500, description="how many episodes to write from `brief`")

    @model_validator(mode="after")
    def _one_source(self):
        if bool(self.episodes) == bool(self.brief):
            raise ValueError("give either `episodes:` (a list of files) or `brief:` with `count:`, not both or neither")
        if self.brief and not self.count:
            raise ValueError("`brief:` needs `count:` (how many episodes to write)")
        return self


class EpisodeOutcome(BaseModel):
    name: str
    source: str
    ok: bool
    video: str | None = None
    duration_s: float | None = None
    wall_seconds: float
    steps_run: int = 0
    cost_rmb: str | None = None
    error: str | None = None
    resumed: bool = Field(False, description="already finished from this source and config; not run again")


class SeriesSummary(BaseModel):
    title: str
    episodes: list[EpisodeOutcome]
    wall_seconds: float
    continuity: ContinuityReport | None = None

    @property
    def failed(self) -> list[EpisodeOutcome]:
        return [e for e in self.episodes if not e.ok]


def episode_sources(spec_path: Path, spec: SeriesSpec, out_dir: Path) -> list[Path]:
    """The episode files, relative to the spec; a brief+count is expanded into one brief per episode."""
    base = spec_path.parent
    if spec.episodes:
        sources = [p if p.is_absolute() else base / p for p in spec.episodes]
        missing = [str(p) for p in sources if not p.is_file()]
        if missing:
            raise InputError(f"{spec_path}: episode file(s) not found: {', '.join(missing)}")
        return sources
    brief_path = spec.brief if spec.brief.is_absolute() else base / spec.brief
    brief = load_model(Brief, brief_path)
    folder = out_dir / folder_name(spec.title) / "briefs"
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for n in range(1, spec.count + 1):
        path = folder / f"ep{n:02d}.yaml"
        text = dump_yaml(brief.model_copy(update={"episode": n}))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
        sources.append(path)
    return sources


def claim_series_folder(out_dir: Path, title: str) -> str:
    """The series' folder name under `out_dir`, refusing one that another series already owns: two
    series whose titles make the same name must never write into each other's episodes."""
    slug = folder_name(title)
    record = out_dir / slug / "series.json"
    if record.is_file():
        try:
            owner = json.loads(record.read_text(encoding="utf-8")).get("title")
        except ValueError:
            owner = None
        if owner not in (None, title):
            raise InputError(f"{out_dir / slug} belongs to the series {owner!r}; give this series ({title!r}) "
                             "another title or render it with another --out")
    else:
        atomic_write_text(record, SeriesSummary(title=title, episodes=[], wall_seconds=0).model_dump_json(indent=2))
    return slug


class SeriesFailed(MicrodramaError):
    """Some episodes failed; the others finished. Carries the series summary."""

    def __init__(self, message: str, summary: Optional[SeriesSummary] = None) -> None:
        super().__init__(message)
        self.summary = summary


def finished_episode(run_dir: Path, source: Path, config: ProjectConfig) -> Optional[Manifest]:
    """The episode's manifest if it already finished from this very source and config, else None: a resumed
    series skips it, while an edited screenplay or a changed config renders again."""
    try:
        manifest = Manifest.read(run_dir)
    except InputError:
        return None
    same_config = manifest.config.model_dump(mode="json") == config.model_dump(mode="json")
    if manifest.status != "complete" or not same_config or manifest.source.get("sha256") != sha256_file(source):
        return None
    return manifest


def outcome_of(name: str, source: Path, run_dir: Path, manifest: Manifest, wall: float,
               resumed: bool = False) -> EpisodeOutcome:
    return EpisodeOutcome(name=name, source=str(source), ok=True, video=str(run_dir / manifest.episode["video"]),
                          duration_s=manifest.episode["duration_s"], wall_seconds=round(wall, 2),
                          steps_run=int(manifest.timings.get("steps_run", 0)), resumed=resumed,
                          cost_rmb=manifest.cost.episode_total if manifest.cost else None)


def episode_tags(config: ProjectConfig, slug: str, index: int) -> list[str]:
    return [config.project_code, f"series:{slug}", f"episode:{index:02d}"]


def _run_via_deployment(deployment: str, name: str, parameters: dict[str, Any], tag_list: list[str]) -> None:
    """One episode as a run of the episode deployment, linked to the series run as its child; raises when
    it did not complete."""
    from prefect.deployments import run_deployment

    child = run_deployment(deployment, parameters=parameters, flow_run_name=name, tags=tag_list,
                           as_subflow=True, timeout=None, poll_interval=2)
    if not child.state or not child.state.is_completed():
        state = child.state.name if child.state else "no state"
        raise MicrodramaError(f"{state}: {child.state.message if child.state else ''}".strip().rstrip(":"))


def _failure_message(failed: list[EpisodeOutcome], total: int) -> str:
    listed = "; ".join(f"{e.name}: {e.error}" for e in failed)
    return (f"{len(failed)} of {total} episodes failed ({listed}); the others finished. Fix them and run the "
            "series again: finished episodes are not rendered again")


@flow(name="series", log_prints=False)
def series_flow(spec_path: Path, config: ProjectConfig, out_dir: Path = Path("out"), parallel: int = 2,
                force: bool = False, budget_rmb: Optional[float] = None, takes: int = 1,
                deployment: Optional[str] = None) -> SeriesSummary:
    """Render every episode of the series as a child run (through `deployment` when given); fails after
    the others finished when any episode failed, naming them (`SeriesFailed.summary` has the outcomes)."""
    started = time.perf_counter()
    spec_path, out_dir = Path(spec_path).resolve(), Path(out_dir).resolve()  # workers share these, not a cwd
    spec = load_model(SeriesSpec, spec_path)
    slug = claim_series_folder(out_dir, spec.title)
    sources = episode_sources(spec_path, spec, out_dir)

    chained = bool(spec.brief) and not default_registry().get(config.stages.screenplay).refits_after_dubbing
    budget_key = f"series:{slug}:{uuid.uuid4().hex}"  # every episode in this process spends from the one cap

    def one(index: int, source: Path) -> EpisodeOutcome:
        name = f"{slug}-ep{index:02d}"
        run_dir = out_dir / name
        t0 = time.perf_counter()
        try:
            if chained and index > 1:
                _hand_on_cliffhanger(source, out_dir / f"{slug}-ep{index - 1:02d}" / "screenplay.json")
            done = None if force else finished_episode(run_dir, source, config)
            if done is not None:
                return outcome_of(name, source, run_dir, done, time.perf_counter() - t0, resumed=True)
            params = dict(source=source.resolve(), config=config, out_dir=out_dir, run_name=name, force=force,
                          voice_bank=out_dir / slug / "voices.json", budget_rmb=budget_rmb, budget_key=budget_key,
                          takes=takes)
            if deployment:
                _run_via_deployment(deployment, name, _jsonable(params), episode_tags(config, slug, index))
            else:
                with tags(*episode_tags(config, slug, index)):
                    episode_flow.with_options(flow_run_name=name)(**params)
            return outcome_of(name, source, run_dir, Manifest.read(run_dir), time.perf_counter() - t0)
        except Exception as exc:  # one episode's failure must not stop the series
            reason = str(exc) if isinstance(exc, MicrodramaError) else f"{type(exc).__name__}: {exc}"
            return EpisodeOutcome(name=name, source=str(source), ok=False, error=reason,
                                  wall_seconds=round(time.perf_counter() - t0, 2))

    with ThreadPoolExecutor(max_workers=1 if chained else max(1, parallel), thread_name_prefix="episode") as pool:
        # Each episode thread runs in a copy of this flow run's context, so its run is a child of the series.
        futures = [pool.submit(contextvars.copy_context().run, one, i, src) for i, src in enumerate(sources, 1)]
        outcomes = [f.result() for f in futures]
    continuity = check_continuity(config, out_dir, slug, [o for o in outcomes if o.ok])
    summary = SeriesSummary(title=spec.title, episodes=outcomes, wall_seconds=round(time.perf_counter() - started, 2),
                            continuity=continuity)
    atomic_write_text(out_dir / slug / "series.json", summary.model_dump_json(indent=2))
    publish_series_artifact(slug, [{"episode": e.name, "result": "ok" if e.ok else "failed",
                                    "resumed": e.resumed, "length s": e.duration_s, "wall s": e.wall_seconds,
                                    "cost RMB": e.cost_rmb, "error": e.error} for e in outcomes], spec.title)
    if summary.failed:
        raise SeriesFailed(_failure_message(summary.failed, len(outcomes)), summary)
    return summary


def run_series(**kwargs: Any) -> SeriesSummary:
    """The series flow for a caller that reports every episode itself (the CLI): the summary, failed or not."""
    try:
        return series_flow(**kwargs)
    except SeriesFailed as exc:
        if exc.summary is None:
            raise
        return exc.summary


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Deployment parameters as JSON: absolute paths, the config as data."""
    return {k: str(v) if isinstance(v, Path) else v.model_dump(mode="json") if isinstance(v, BaseModel) else v
            for k, v in params.items()}


def _hand_on_cliffhanger(brief_path: Path, previous_screenplay: Path) -> None:
    """Write the previous episode's cliffhanger into this episode's brief, so the writer opens on it."""
    if not previous_screenplay.is_file():
        raise InputError(f"episode {previous_screenplay.parent.name} has no screenplay to continue from; "
                         "fix and re-run it first")
    before = Screenplay.model_validate_json(previous_screenplay.read_text(encoding="utf-8"))
    brief = load_model(Brief, brief_path)
    previously = Previously(episode=before.episode.number, cliffhanger=before.episode.cliffhanger,
                            last_scene=before.episode.scenes[-1].location)
    text = dump_yaml(brief.model_copy(update={"previously": previously}))
    if brief_path.read_text(encoding="utf-8") != text:
        atomic_write_text(brief_path, text)


def check_continuity(config: ProjectConfig, out_dir: Path, slug: str,
                     finished: list[EpisodeOutcome]) -> ContinuityReport | None:
    """The continuity stage over every finished episode's screenplay; its report is kept beside series.json."""
    screenplays = [Screenplay.model_validate_json((Path(o.video).parent / "screenplay.json").read_text(encoding="utf-8"))
                   for o in finished if o.video and (Path(o.video).parent / "screenplay.json").is_file()]
    if not screenplays:
        return None
    run = Run(config, out_dir, slug, episode=None, flow="series", echo=lambda _: None)
    report = run.stage("continuity", ContinuityInput(screenplays=screenplays), task_name="continuity")
    atomic_write_text(out_dir / slug / "continuity.json", report.model_dump_json(indent=2))
    return report
