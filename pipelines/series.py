"""The series flow: many episodes that read as one story, a bounded number rendered at a time.

Episodes run as Prefect subflows of `series`, `parallel` at a time. One episode failing (a bad
screenplay, a crashed model) is recorded and reported; the others still finish. Everything an
episode produces goes through the same content-addressed store and ledger, so re-running a
series after a fix redoes only what is missing or changed.

A series written from one brief chains its episodes: each opens on the last one's cliffhanger.
The rule-based writer knows every episode's cliffhanger from the brief alone, so its episodes
still render in parallel; any other writer (an LLM) is handed the previous episode's cliffhanger
(`Brief.previously`), so those episodes are written one after another. At the end the continuity
stage reads every episode and its findings go into `series.json` and `continuity.json`.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect import flow
from pydantic import BaseModel, Field, model_validator

from microdrama.config import ProjectConfig
from microdrama.domain import Brief, Previously, Screenplay, Strict, dump_yaml, folder_name, load_model
from microdrama.errors import InputError, MicrodramaError
from microdrama.files import atomic_write_text
from microdrama.pipelines.episode import episode_flow
from microdrama.registry import default_registry
from microdrama.run import Run
from microdrama.stages import ContinuityInput, ContinuityReport


class SeriesSpec(Strict):
    """Either a list of episode files (briefs or screenplays), or one brief and a count."""

    title: str = Field(min_length=1, description="series name; names the run folders")
    episodes: list[Path] = Field(default_factory=list, description="brief or screenplay files, in order")
    brief: Path | None = Field(None, description="one brief to write episodes 1..count from")
    count: int | None = Field(None, ge=1, le=500, description="how many episodes to write from `brief`")

    @model_validator(mode="after")
    def _one_source(self) -> "SeriesSpec":
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


@flow(name="series", log_prints=False)
def series_flow(spec_path: Path, config: ProjectConfig, out_dir: Path = Path("out"), parallel: int = 2,
                force: bool = False, budget_rmb: float | None = None, takes: int = 1) -> SeriesSummary:
    started = time.perf_counter()
    spec = load_model(SeriesSpec, spec_path)
    slug = claim_series_folder(Path(out_dir), spec.title)
    sources = episode_sources(Path(spec_path), spec, Path(out_dir))

    chained = bool(spec.brief) and not default_registry().get(config.stages.screenplay).refits_after_dubbing
    budget_key = f"series:{slug}:{uuid.uuid4().hex}"  # every episode spends from the one cap

    def one(index: int, source: Path) -> EpisodeOutcome:
        name = f"{slug}-ep{index:02d}"
        t0 = time.perf_counter()
        try:
            if chained and index > 1:
                _hand_on_cliffhanger(source, Path(out_dir) / f"{slug}-ep{index - 1:02d}" / "screenplay.json")
            s = episode_flow(source=source, config=config, out_dir=out_dir, run_name=name, force=force,
                             voice_bank=Path(out_dir) / slug / "voices.json", budget_rmb=budget_rmb,
                             budget_key=budget_key, takes=takes)
        except Exception as exc:  # one episode's failure must not stop the series
            reason = str(exc) if isinstance(exc, MicrodramaError) else f"{type(exc).__name__}: {exc}"
            return EpisodeOutcome(name=name, source=str(source), ok=False, error=reason,
                                  wall_seconds=round(time.perf_counter() - t0, 2))
        return EpisodeOutcome(name=name, source=str(source), ok=True, video=s.video, duration_s=s.duration_s,
                              wall_seconds=round(time.perf_counter() - t0, 2), steps_run=s.steps_run,
                              cost_rmb=s.cost.episode_total if s.cost else None)

    with ThreadPoolExecutor(max_workers=1 if chained else max(1, parallel), thread_name_prefix="episode") as pool:
        futures = [pool.submit(one, i, src) for i, src in enumerate(sources, 1)]
        outcomes = [f.result() for f in futures]
    continuity = check_continuity(config, Path(out_dir), slug, [o for o in outcomes if o.ok])
    summary = SeriesSummary(title=spec.title, episodes=outcomes, wall_seconds=round(time.perf_counter() - started, 2),
                            continuity=continuity)
    atomic_write_text(Path(out_dir) / slug / "series.json", summary.model_dump_json(indent=2))
    return summary


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
