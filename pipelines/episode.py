"""The reference episode pipeline, as one Prefect flow.

    brief ─screenplay─▶ Screenplay ─dubbing (per line)─▶ WAVs ─storyboard─▶ timed shots
          ─visuals (per shot, in parallel)─▶ clips ─subtitles─▶ SRT/ASS ─compose─▶ episode.mp4

Tasks are thin wrappers over `run_stage`, which calls a skill through the content-addressed
store (the input-hash cache), so re-running after an edit only redoes what the edit touched, and
a crashed run resumes where it stopped. Every call leaves a usage record, attributed here (run,
episode, shot, line, R&D project) because skills do not know who pays for them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field

from microdrama.env import apply_offline_defaults

apply_offline_defaults()

from prefect import flow, get_run_logger, task  # noqa: E402  (settings must precede the import)
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from microdrama import __version__  # noqa: E402
from microdrama.config import ProjectConfig  # noqa: E402
from microdrama.domain import NARRATOR, Brief, Screenplay, Storyboard, dump_yaml, load_model, parse_model  # noqa: E402
from microdrama.errors import BilledError, InputError, MicrodramaError, RenderError  # noqa: E402
from microdrama.qa import LineQA, error_rate  # noqa: E402
from microdrama.labels.apply import label_file  # noqa: E402
from microdrama.labels.check import check_file  # noqa: E402
from microdrama.ledger import Ledger  # noqa: E402
from microdrama.ledger.meter import Attribution, Meter  # noqa: E402
from microdrama.ledger.rates import RateCards  # noqa: E402
from microdrama.registry import default_registry  # noqa: E402
from microdrama.skill import Usage, atomic_write_text  # noqa: E402
from microdrama.store import ArtifactStore, publish, sha256_file  # noqa: E402

UNUSED_STAGES = {"segmented": {"compose"}, "single-pass": {"finish", "assemble"}}  # transcribe is checked when used
PUBLISHED = ["llm", "episode.mp4", "episode.srt", "episode.ass", "screenplay.yaml", "screenplay.json",
             "storyboard.json", "storyboard.png", "storyboard.html", "manifest.json"]


class UsageRecord(BaseModel):
    """A skill call's usage with its attribution. `cached` calls consumed nothing this run."""

    run_id: str
    project_code: str
    flow: str = "episode"
    task: str
    episode: int
    shot_id: str | None = None
    line_id: str | None = None
    cache_key: str
    cached: bool
    usage: Usage


class RunCost(BaseModel):
    currency: str = "RMB"
    this_run: str = Field(description="cost of the steps executed in this run")
    episode_total: str = Field(description="cost of every step of the episode, including reused ones")
    per_finished_minute: str
    by_category: dict[str, str] = Field(default_factory=dict)
    rate_refs: list[str] = Field(default_factory=list)
    ledger: str


class RunSummary(BaseModel):
    run_id: str
    run_dir: str
    video: str
    duration_s: float
    shots: int
    lines: int
    wall_seconds: float
    steps_run: int
    steps_cached: int
    usage: list[UsageRecord] = Field(default_factory=list)
    cost: RunCost | None = None


# ---- plain functions: everything below the decorators is testable without Prefect ----------------


class Run:
    """Per-run state: the store, the attribution, the collected usage and progress output."""

    def __init__(self, config: ProjectConfig, out_dir: Path, run_name: str, episode: int,
                 force: bool = False, echo: Callable[[str], None] | None = None) -> None:
        self.id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        self.config = config
        self.dir = Path(out_dir) / run_name
        self.store = ArtifactStore(Path(out_dir) / ".store")
        self.episode = episode
        self.force = force
        self.echo = echo or print
        self.records: list[UsageRecord] = []
        self.qa: dict | None = None  # dub QA report, when Whisper ran
        self.consistency: dict = {}  # per character: how alike their shots look
        # At most this many renders (ffmpeg encodes, or GPU work) at a time: bounds memory and contention.
        self.render_slots = threading.BoundedSemaphore(config.max_parallel_renders)
        self.meter: Meter | None = None
        if config.ledger.enabled:
            url = config.ledger.url or f"sqlite:///{(Path(out_dir) / 'ledger.sqlite').resolve()}"
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            self.meter = Meter(Ledger(url), RateCards.load(config.ledger.rate_card))

    def stage(self, stage: str, fields: dict[str, Any], *, task_name: str,
              shot_id: str | None = None, line_id: str | None = None) -> BaseModel:
        skill = default_registry().create(getattr(self.config.stages, stage))
        inputs = skill.parse_input(fields)
        who = Attribution(run_id=self.id, project_code=self.config.project_code, flow="episode", task=task_name,
                          episode=self.episode, shot_id=shot_id, line_id=line_id)

        def meter(key: str, usage: Usage) -> None:
            if self.meter:
                self.meter.record(who, usage, key, force=self.force)

        try:
            result = self.store.run(skill, inputs, force=self.force, log=self.echo, before_commit=meter)
        except BilledError as exc:  # failed, but the provider charged for it: the cost is real
            if self.meter:
                self.meter.record(who, exc.usage, self.store.key(skill, inputs), billed_failure=True)
            raise
        self.records.append(UsageRecord(
            run_id=self.id, project_code=self.config.project_code, task=task_name, episode=self.episode,
            shot_id=shot_id, line_id=line_id, cache_key=result.key, cached=result.cached, usage=result.usage,
        ))
        return result.output


def read_source(path: Path) -> Brief | Screenplay:
    """A file holding `series:` and `episode:` is a screenplay; anything else must be a brief."""
    import yaml

    if not path.is_file():
        raise InputError(f"{path}: no such file. Pass a brief or screenplay YAML/JSON.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML/JSON: {exc}") from None
    is_screenplay = isinstance(data, dict) and "series" in data and "episode" in data
    return parse_model(Screenplay if is_screenplay else Brief, data, source=path)


def load_translation(config: ProjectConfig, screenplay: Screenplay) -> dict[str, str]:
    """Bilingual subtitles: line id -> translation, from a mapping file or a translated screenplay."""
    import yaml

    path = config.subtitles.translation
    if path is None:
        return {}
    if not Path(path).is_file():
        raise InputError(f"subtitles.translation: {path} does not exist")
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "series" in data and "episode" in data:
        mapping = {ln.id: ln.text for ln in load_model(Screenplay, path).spoken_lines()}
    elif isinstance(data, dict):
        mapping = {str(k): str(v) for k, v in data.items()}
    else:
        raise InputError(f"subtitles.translation: {path} must map line ids to text, or be a translated screenplay")
    missing = [ln.id for ln in screenplay.spoken_lines() if ln.id not in mapping]
    if missing:
        raise InputError(f"subtitles.translation: no translation for line(s) {', '.join(missing[:8])} in {path}")
    return mapping


def voice_for(screenplay: Screenplay, speaker: str, config: ProjectConfig):
    return config.narrator_voice if speaker == NARRATOR else screenplay.series.character(speaker).voice


# ---- Prefect tasks: thin decorators over the plain functions ------------------------------------


@task(name="screenplay", cache_policy=NO_CACHE)
def write_screenplay(run: Run, brief: Brief) -> Screenplay:
    # LLM writers retry their own HTTP calls (see microdrama.llm.client); nothing else here is network.
    return run.stage("screenplay", {"brief": brief, "provider": run.config.llm}, task_name="screenplay")


@task(name="dub-line", task_run_name="dub {line_id}", cache_policy=NO_CACHE)
def dub_line(run: Run, screenplay: Screenplay, line_id: str) -> BaseModel:
    line = next(ln for ln in screenplay.spoken_lines() if ln.id == line_id)
    return run.stage("dubbing", {
        "line_id": line.id, "text": line.text, "language": screenplay.series.language,
        "voice": voice_for(screenplay, line.speaker, run.config), "emotion": line.emotion,
    }, task_name="dub-line", shot_id=line.shot_id, line_id=line.id)


@task(name="storyboard", cache_policy=NO_CACHE)
def make_storyboard(run: Run, screenplay: Screenplay, durations: dict[str, float]) -> BaseModel:
    return run.stage("storyboard", {"screenplay": screenplay, "line_durations": durations,
                                    "fps": run.config.render.fps}, task_name="storyboard")


@contextlib.contextmanager
def gpu_slot(run: Run):
    """Bound concurrent renders in this process, and — for GPU models — across every worker that
    shares the Prefect server: a global concurrency limit named after the device. Create it once on
    the server (`prefect gcl create microdrama-gpu-cuda --limit 1`); without it, no cross-worker limit."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(run.render_slots)
        if run.config.stages.visuals != "animatic":
            from prefect.concurrency.sync import concurrency

            stack.enter_context(concurrency(f"microdrama-gpu-{run.config.video.device.replace(':', '-')}",
                                            occupy=1, strict=False))
        yield


@task(name="character-reference", task_run_name="reference {char_id}", cache_policy=NO_CACHE)
def character_reference(run: Run, screenplay: Screenplay, char_id: str) -> str:
    """One reference image per character, seeded by the character id: the same face in every shot."""
    c, v = screenplay.series.character(char_id), run.config.video
    with gpu_slot(run):
        out = run.stage("keyframe", {"key": char_id, "prompt": f"Character sheet, full body, plain background: "
                                     f"{c.name}, {c.look}", "model": v.reference_model,
                                     "registry": str(v.registry) if v.registry else None, "device": v.device,
                                     "seed": v.seed}, task_name="character-reference")
    return out.image


@task(name="render-shot", task_run_name="render {shot_id}", cache_policy=NO_CACHE)
def render_shot(run: Run, screenplay: Screenplay, storyboard: Storyboard, shot_id: str,
                references: dict[str, str] | None = None) -> BaseModel:
    timed = next(s for s in storyboard.shots if s.shot.id == shot_id)
    # A clip depends on the shot's content and length, not on where it sits in the episode:
    # re-anchor it at 0 so an edit earlier in the episode does not invalidate later clips.
    local = timed.model_copy(update={"start_s": 0.0, "cues": []})
    r, v = run.config.render, run.config.video
    with gpu_slot(run):
        return run.stage("visuals", {
            "shot": local, "characters": [screenplay.series.character(c) for c in timed.shot.characters],
            "language": screenplay.series.language, "width": r.width, "height": r.height, "fps": r.fps,
            "crf": r.clip_crf, "preset": r.clip_preset,
            # video-model settings (the animatic ignores them)
            "model": v.model, "registry": str(v.registry) if v.registry else None, "device": v.device,
            "seed": v.seed, "steps": v.steps, "reference_images": references or {},
        }, task_name="render-shot", shot_id=shot_id)


@task(name="subtitles", cache_policy=NO_CACHE)
def write_subtitles(run: Run, storyboard: Storyboard, alignment: dict, secondary: dict[str, str]) -> BaseModel:
    r, s = run.config.render, run.config.subtitles
    return run.stage("subtitles", {"storyboard": storyboard, "width": r.width, "height": r.height,
                                   "font_size": s.font_size, "bottom_margin": s.bottom_margin,
                                   "alignment": alignment, "secondary": secondary,
                                   "secondary_font_size": s.secondary_font_size},
                     task_name="subtitles")


@task(name="dub-qa", task_run_name="qa {line_id}", cache_policy=NO_CACHE)
def qa_line(run: Run, screenplay: Screenplay, line_id: str, dubbed: BaseModel) -> tuple[LineQA, BaseModel, list]:
    """Whisper hears the dubbed line; a line scoring over the threshold is re-dubbed once, slower."""
    lang = screenplay.series.language
    line = next(ln for ln in screenplay.spoken_lines() if ln.id == line_id)

    def hear(take) -> tuple[object, str, float]:
        transcript = run.stage("transcribe", {"audio": take.audio, "whisper": run.config.whisper, "language": lang},
                               task_name="dub-qa", shot_id=line.shot_id, line_id=line_id)
        metric, score = error_rate(line.text, transcript.text, lang)
        return transcript, metric, score

    transcript, metric, score = hear(dubbed)
    qa = LineQA(line_id=line_id, expected=line.text, heard=transcript.text, metric=metric, score=score,
                flagged=score > run.config.qa.threshold)
    if qa.flagged and run.config.qa.resynthesise:
        voice = voice_for(screenplay, line.speaker, run.config)
        retake = run.stage("dubbing", {"line_id": line.id, "text": line.text, "language": lang, "emotion": line.emotion,
                                       "voice": voice.model_copy(update={"rate": max(80, int(voice.rate * 0.85))})},
                           task_name="dub-retake", shot_id=line.shot_id, line_id=line_id)
        t2, _, score2 = hear(retake)
        if score2 < score:
            dubbed, transcript = retake, t2
            qa = qa.model_copy(update={"heard": t2.text, "score": score2, "flagged": score2 > run.config.qa.threshold,
                                       "resynthesised": True})
    words = [{"start": w.start, "end": w.end, "word": w.word} for w in transcript.words]
    return qa, dubbed, words


def qa_plan(config: ProjectConfig, language: str) -> str | None:
    """Why dub QA cannot run for this episode, or None when it can."""
    if config.qa.dub_qa == "off":
        return "switched off (qa.dub_qa: off)"
    try:
        import faster_whisper  # noqa: F401
        english_only = config.whisper.is_english_only()
        config.whisper.resolved_path()
    except (ImportError, MicrodramaError) as exc:
        reason = f"no Whisper available ({str(exc).splitlines()[0]})"
    else:
        if language == "en" or not english_only:
            return None
        reason = f"the Whisper model is English-only and the episode is '{language}'; configure whisper.model_path"
    if config.qa.dub_qa == "on":
        raise InputError(f"qa.dub_qa is 'on' but dub QA cannot run: {reason}")
    return reason


def opening_text(run: Run, storyboard: Storyboard) -> str | None:
    licence = run.config.filing.licence_number
    if not licence:
        return None
    return f"备案号：{licence}" if storyboard.language == "zh" else f"Filing No. {licence}"


OPENING_SECONDS = 3.0


@task(name="compose", cache_policy=NO_CACHE)
def compose_cut(run: Run, storyboard: Storyboard, clips: dict[str, str], audio: dict[str, str],
                ass: str | None) -> BaseModel:
    """Single-pass mode: the whole cut in one encode."""
    r = run.config.render
    return run.stage("compose", {"storyboard": storyboard, "clips": clips, "line_audio": audio,
                                 "subtitles_ass": ass, "mark": run.config.mark, "width": r.width,
                                 "height": r.height, "crf": r.crf, "preset": r.preset,
                                 "opening_text": opening_text(run, storyboard), "opening_seconds": OPENING_SECONDS},
                     task_name="compose")


@task(name="finish-shot", task_run_name="finish {shot_id}", cache_policy=NO_CACHE)
def finish_shot(run: Run, storyboard: Storyboard, subs: BaseModel, shot_id: str, clip: BaseModel) -> BaseModel:
    """Segmented mode: burn this shot's own subtitles and marks. Times are relative to the shot,
    so shots after an edited line are not re-finished just because they moved."""
    r, s, mark = run.config.render, run.config.subtitles, run.config.mark
    timed = next(t for t in storyboard.shots if t.shot.id == shot_id)
    mine = {cue.line_id for cue in timed.cues}
    events = [{"start_s": ev.shot_start_s, "end_s": ev.shot_end_s, "rows": ev.rows, "secondary_rows": ev.secondary_rows}
              for ev in subs.events if ev.line_id in mine] if s.burn_in else []
    opening = opening_text(run, storyboard)
    with run.render_slots:
        return run.stage("finish", {
            "shot_id": shot_id, "clip": clip.video, "frames": timed.frames, "fps": r.fps, "width": r.width,
            "height": r.height, "events": events, "font_size": s.font_size, "bottom_margin": s.bottom_margin,
            "secondary_font_size": s.secondary_font_size,
            "mark": mark,
            "mark_until_s": None if mark.seconds is None else round(max(0.0, mark.seconds - timed.start_s), 4),
            "opening_text": opening if opening and timed.start_s < OPENING_SECONDS else None,
            "opening_until_s": round(max(0.0, OPENING_SECONDS - timed.start_s), 4) if opening else 0.0,
            "crf": r.crf, "preset": r.preset,
        }, task_name="finish-shot", shot_id=shot_id)


@task(name="assemble", cache_policy=NO_CACHE)
def assemble_cut(run: Run, storyboard: Storyboard, segments: dict[str, str], audio: dict[str, str]) -> BaseModel:
    r = run.config.render
    return run.stage("assemble", {"storyboard": storyboard, "segments": segments, "line_audio": audio,
                                  "audio_label": run.config.mark.audio, "width": r.width, "height": r.height},
                     task_name="assemble")


@task(name="label-and-check", cache_policy=NO_CACHE)
def label_outputs(run: Run, files: list[Path], title: str) -> list[dict]:
    """Embed TC260 metadata (and C2PA credentials when configured) in every published file, then
    read everything back: a file that fails its label check stops the run before it is declared done."""
    cfg = run.config.labels
    reports = []
    for path in files:
        label_file(path, cfg, produce_id=f"{run.id}-{path.stem}", title=title)
        trust = cfg.signing.trust_anchors if cfg.signing else None
        reports.append(check_file(path, require_c2pa=cfg.require_c2pa, trust_anchors=trust))
    failed = [r for r in reports if not r.ok]
    if failed:
        detail = "; ".join(f"{Path(r.path).name}: " + ", ".join(c.clause for c in r.clauses if not c.ok)
                           for r in failed)
        raise RenderError(f"label check failed, episode not published as done: {detail}")
    return [r.as_dict() for r in reports]


# ---- the flow ------------------------------------------------------------------------------------


def _progress(run: Run, message: str) -> None:
    run.echo(message)
    try:
        get_run_logger().info(message)
    except Exception:  # outside a flow run context (plain-function tests)
        pass


@flow(name="episode", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=False)
def episode_flow(source: Path, config: ProjectConfig, out_dir: Path = Path("out"), run_name: str = "demo",
                 force: bool = False) -> RunSummary:
    """Render one episode from a brief or a screenplay into `out_dir/run_name/`."""
    return render_episode(source, config, out_dir, run_name, force)


def render_episode(source: Path, config: ProjectConfig, out_dir: Path, run_name: str, force: bool = False,
                   echo: Callable[[str], None] | None = None) -> RunSummary:
    started = time.perf_counter()
    source = Path(source)
    material = read_source(source)  # validate before anything is written
    registry = default_registry()
    for stage in type(config.stages).model_fields:
        if stage in UNUSED_STAGES[config.render.mode]:
            continue
        skill_cls = registry.get(getattr(config.stages, stage))
        if skill_cls.stage != stage:
            raise InputError(f"stages.{stage}: skill '{skill_cls.name}' is a {skill_cls.stage} skill, "
                             f"not a {stage} skill; choose one of {registry.names(stage)}")
    episode_no = material.episode if isinstance(material, Brief) else material.episode.number
    run = Run(config, out_dir, run_name, episode_no, force=force, echo=echo)
    run.dir.mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED:  # a failed run must not leave an earlier run's outputs looking current
        target = run.dir / name
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    _progress(run, f"run {run.id} → {run.dir}")

    screenplay = write_screenplay(run, material) if isinstance(material, Brief) else material
    lines = screenplay.spoken_lines()
    _progress(run, f"screenplay: {screenplay.episode.title} — {sum(1 for _ in screenplay.shots())} shots, "
                   f"{len(lines)} lines")

    dub_futures = [dub_line.submit(run, screenplay, ln.id) for ln in lines]
    dubbed = {}
    for i, fut in enumerate(dub_futures, 1):
        out = fut.result()
        dubbed[out.line_id] = out
        _progress(run, f"[dub {i}/{len(lines)}] {out.line_id} {out.duration_s:.2f}s ({out.voice})")

    qa_reports: list[LineQA] = []
    alignment: dict[str, list] = {}
    skipped = qa_plan(config, screenplay.series.language)
    if skipped:
        _progress(run, f"dub QA skipped: {skipped}")
    else:
        futures = {ln.id: qa_line.submit(run, screenplay, ln.id, dubbed[ln.id]) for ln in lines}
        for line_id, fut in futures.items():
            qa, dubbed[line_id], words = fut.result()
            qa_reports.append(qa)
            if config.qa.align_subtitles and words:
                alignment[line_id] = words
        flagged = [q for q in qa_reports if q.flagged]
        mean = sum(q.score for q in qa_reports) / max(1, len(qa_reports))
        _progress(run, f"dub QA: {len(qa_reports)} lines, mean {qa_reports[0].metric.upper() if qa_reports else ''} "
                       f"{mean:.2f}, {len(flagged)} flagged, {sum(q.resynthesised for q in qa_reports)} re-dubbed")
    run.qa = {"skipped": skipped, "lines": [q.model_dump() for q in qa_reports]}

    board_out = make_storyboard(run, screenplay, {k: v.duration_s for k, v in dubbed.items()})
    board: Storyboard = board_out.storyboard
    _progress(run, f"storyboard: {len(board.shots)} shots, {board.duration_s:.1f} s")

    subs = write_subtitles(run, board, alignment, load_translation(config, screenplay))
    references: dict[str, str] = {}
    if config.stages.visuals != "animatic" and config.video.reference_model:
        ref_futures = {c.id: character_reference.submit(run, screenplay, c.id) for c in screenplay.series.characters}
        references = {cid: f.result() for cid, f in ref_futures.items()}
        _progress(run, f"character references: {', '.join(references)}")
    shot_futures = {ts.shot.id: render_shot.submit(run, screenplay, board, ts.shot.id, references)
                    for ts in board.shots}
    line_audio = {k: v.audio for k, v in dubbed.items()}
    n = len(board.shots)
    if config.render.mode == "segmented":
        # Each shot is finished as soon as its clip is ready; the episode is joined without re-encoding.
        finish_futures = {sid: finish_shot.submit(run, board, subs, sid, fut) for sid, fut in shot_futures.items()}
        segments = {}
        for i, (shot_id, fut) in enumerate(finish_futures.items(), 1):
            clip = shot_futures[shot_id].result()
            segments[shot_id] = fut.result().video
            _progress(run, f"[shot {i}/{n}] {shot_id} {clip.duration_s:.2f}s ({clip.source}) rendered and finished")
        cut = assemble_cut(run, board, segments, line_audio)
    else:
        clips = {}
        for i, (shot_id, fut) in enumerate(shot_futures.items(), 1):
            clip = fut.result()
            clips[shot_id] = clip.video
            _progress(run, f"[visuals {i}/{n}] {shot_id} {clip.duration_s:.2f}s ({clip.source})")
        _progress(run, "compose: encoding the final cut…")
        cut = compose_cut(run, board, clips, line_audio, subs.ass if config.subtitles.burn_in else None)

    # Publish: everything a person looks at, under stable names in the run folder.
    for record in run.records:  # prompts and replies of LLM calls, for audit and reproducibility
        transcripts = run.store.folder(record.cache_key) / "llm"
        for f in sorted(transcripts.glob("*.json")) if transcripts.is_dir() else []:
            publish(f, run.dir / "llm" / record.task / f.name)
    atomic_write_text(run.dir / "screenplay.yaml", dump_yaml(screenplay))
    atomic_write_text(run.dir / "screenplay.json", screenplay.model_dump_json(indent=2))
    atomic_write_text(run.dir / "storyboard.json", board.model_dump_json(indent=2))
    if board_out.sheet_png:
        publish(board_out.sheet_png, run.dir / "storyboard.png")
        publish(board_out.sheet_html, run.dir / "storyboard.html")
    for line_id, d in dubbed.items():
        publish(d.audio, run.dir / "audio" / f"{line_id}.wav")
    publish(subs.srt, run.dir / "episode.srt")
    publish(subs.ass, run.dir / "episode.ass")
    video = publish(cut.video, run.dir / "episode.mp4")
    from microdrama.consistency import character_consistency

    clips_by_shot = {sid: f.result().video for sid, f in shot_futures.items()}
    run.consistency = character_consistency([(ts.shot.characters, clips_by_shot[ts.shot.id]) for ts in board.shots])
    label_reports: list[dict] = []
    if config.labels.enabled:
        _progress(run, "labels: TC260 metadata" + (" + C2PA" if config.labels.signing else "") + ", then check…")
        targets = [video, run.dir / "storyboard.png", *sorted((run.dir / "audio").glob("*.wav"))]
        label_reports = label_outputs(run, [p for p in targets if p.exists()], screenplay.series.title)

    wall = time.perf_counter() - started
    summary = RunSummary(
        run_id=run.id, run_dir=str(run.dir), video=str(video), duration_s=cut.duration_s, shots=len(board.shots),
        lines=len(lines), wall_seconds=round(wall, 2), steps_run=sum(not r.cached for r in run.records),
        steps_cached=sum(r.cached for r in run.records), usage=run.records, cost=run_cost(run, cut.duration_s),
    )
    write_manifest(run, source, summary, label_reports)
    publish_cost_artifact(summary)
    write_filing_packs(run, screenplay, summary)
    _progress(run, f"done: {video} ({cut.duration_s:.1f} s) in {wall:.1f} s — "
                   f"{summary.steps_run} steps run, {summary.steps_cached} reused from cache")
    return summary


def write_filing_packs(run: Run, screenplay: Screenplay, summary: RunSummary) -> None:
    """Planning and online filing packs for this episode, next to it (`filing/`)."""
    from datetime import date
    from decimal import Decimal

    from microdrama.filing import online_pack, plan_pack, write_pack

    per_minute = Decimal(summary.cost.per_finished_minute) if summary.cost else None
    if run.config.filing.budget_rmb is None and per_minute is None:
        _progress(run, "filing packs skipped: no budget configured and no ledger estimate")
        return
    write_pack(plan_pack(screenplay, run.config, date.today(), per_minute), run.dir / "filing", "plan")
    write_pack(online_pack([run.dir], run.config), run.dir / "filing", "online")
    _progress(run, f"filing packs: {run.dir / 'filing'}")


def run_cost(run: Run, duration_s: float) -> RunCost | None:
    if run.meter is None:
        return None
    cost = run.meter.summary(run.id, {r.cache_key for r in run.records})
    return RunCost(currency=cost.currency, this_run=str(cost.this_run), episode_total=str(cost.episode_total),
                   per_finished_minute=str(cost.per_minute(duration_s)),
                   by_category={k: str(v) for k, v in cost.by_category.items()}, rate_refs=cost.rate_refs,
                   ledger=run.meter.ledger.url)


def publish_cost_artifact(summary: RunSummary) -> None:
    """The run's cost as a Prefect table artifact, visible in the Prefect UI next to the flow run."""
    if summary.cost is None:
        return
    from prefect.artifacts import create_table_artifact

    c = summary.cost
    rows = [{"item": "this run", "RMB": c.this_run}, {"item": "episode total", "RMB": c.episode_total},
            {"item": "per finished minute", "RMB": c.per_finished_minute}]
    rows += [{"item": f"category: {k}", "RMB": v} for k, v in c.by_category.items()]
    try:
        create_table_artifact(key="episode-cost", table=rows, description=f"Run {summary.run_id} cost (RMB)")
    except Exception as exc:  # outside a flow run there is nowhere to publish; the manifest has it
        logging.getLogger(__name__).debug("cost artifact not published: %s", exc)


def write_manifest(run: Run, source: Path, summary: RunSummary, labels: list[dict]) -> None:
    """The run's record: inputs, skill versions, content hashes, timings, usage. Written last."""
    artifacts = {}
    for path in sorted(p for p in run.dir.rglob("*") if p.is_file() and p.name != "manifest.json"):
        artifacts[str(path.relative_to(run.dir))] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    registry = default_registry()
    skills = {}
    for stage in type(run.config.stages).model_fields:
        if stage in UNUSED_STAGES[run.config.render.mode]:
            continue
        cls = registry.get(getattr(run.config.stages, stage))
        skills[stage] = {"skill": cls.name, "version": cls.version, "backend": cls.backend}
    manifest = {
        "status": "complete",
        "run_id": run.id,
        "microdrama_version": __version__,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {"path": str(source), "sha256": sha256_file(source)},
        "config": run.config.model_dump(mode="json"),
        "skills": skills,
        "episode": {"video": "episode.mp4", "duration_s": summary.duration_s, "shots": summary.shots,
                    "lines": summary.lines},
        "timings": {"wall_seconds": summary.wall_seconds, "steps_run": summary.steps_run,
                    "steps_cached": summary.steps_cached},
        "artifacts": artifacts,
        "cost": summary.cost.model_dump(mode="json") if summary.cost else None,
        "labels": labels,
        "dub_qa": run.qa,
        "character_consistency": run.consistency,
        "usage": [r.model_dump(mode="json") for r in run.records],
        "host": {"pid": os.getpid()},
    }
    atomic_write_text(run.dir / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
