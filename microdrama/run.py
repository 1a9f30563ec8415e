"""One episode run, as plain Python: its state, the stage calls, and the files it leaves behind.

The Prefect flow in `pipelines/episode.py` only orders the steps; everything a step needs that is
not a skill lives here and is testable without Prefect: reading the source, checking the stage
choices and their options before anything is written, calling a skill through the
content-addressed store with its cost recorded, the dub-QA retake policy, and the writers of the
run folder (published files, labels, cost, filing packs, the manifest).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, Field

from microdrama import __version__
from microdrama.artifact_store import ArtifactStore
from microdrama.config import ProjectConfig
from microdrama.domain import (
    LENGTH_TOLERANCE,
    Brief,
    Character,
    Screenplay,
    SpokenLine,
    Storyboard,
    TimedShot,
    dump_yaml,
    estimate_episode_seconds,
    load_model,
    measured_pace,
    read_yaml,
)
from microdrama.errors import BilledError, InputError, MicrodramaError, RenderError
from microdrama.files import atomic_write_text, publish, replace_folder, sha256_file
from microdrama.finishing import measure_loudness
from microdrama.ledger.meter import Attribution, Meter
from microdrama.qa import LineQA, error_rate
from microdrama.quote import Budget, Quote, price
from microdrama.registry import SkillRegistry, default_registry
from microdrama.review import ReviewLog
from microdrama.skill import Usage
from microdrama.stages import (
    DubbedLine,
    DubbingInput,
    FinalCut,
    FinishInput,
    MixedSound,
    MusicBed,
    ShotClip,
    StageModel,
    StoryboardInput,
    StoryboardOutput,
    SubEvent,
    SubtitleFiles,
    SubtitlesInput,
    TranscribeInput,
    VisualsInput,
    take_lengths,
    take_shot,
)

# Stages a render mode does not use (transcribe is checked when dub QA runs).
UNUSED_STAGES = {"segmented": {"compose"}, "single-pass": {"finish", "assemble"}}
# Folders a run fills completely: after a successful run they hold only this run's files.
REPLACED_FOLDERS = ("llm", "audio")
FAILED_MARKER = "RUN-FAILED.txt"
OPENING_SECONDS = 3.0


# ---- records -----------------------------------------------------------------------------------------


class UsageRecord(BaseModel):
    """A skill call's usage with its attribution. `cached` calls consumed nothing this run."""

    run_id: str
    project_code: str
    flow: str = "episode"
    task: str
    episode: int | None = Field(None, description="None for series-level work such as the continuity check")
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


class DubQAReport(BaseModel):
    skipped: str | None = Field(None, description="why dub QA did not run, or empty when it did")
    lines: list[LineQA] = Field(default_factory=list)


class ArtifactInfo(BaseModel):
    sha256: str
    bytes: int


class Manifest(BaseModel):
    """The run's record: inputs, skill versions, content hashes, timings, usage, cost and labels."""

    status: Literal["complete"] = "complete"
    run_id: str
    microdrama_version: str
    finished_at: str
    source: dict[str, str] = Field(description="path and sha256 of the brief or screenplay")
    config: ProjectConfig
    skills: dict[str, dict[str, str]] = Field(description="stage -> skill, version, backend")
    episode: dict[str, Any] = Field(description="video, duration_s, shots, lines")
    timings: dict[str, float]
    artifacts: dict[str, ArtifactInfo]
    cost: RunCost | None = None
    labels: list[dict[str, Any]] = Field(default_factory=list, description="label check report per published file")
    dub_qa: DubQAReport = Field(default_factory=DubQAReport)
    character_consistency: dict[str, dict[str, Any]] = Field(default_factory=dict)
    loudness: dict[str, float] | None = Field(None, description="the cut's integrated LUFS and true peak dBTP, "
                                                                "measured by ffmpeg's EBU R128 meter")
    music: list[dict[str, Any]] = Field(default_factory=list, description="music beds: file, sha256, licence, span")
    writing: dict[str, Any] = Field(default_factory=dict, description="the screenplay's writer, target and measured "
                                                                      "length, re-fits, and LLM structured-output tiers")
    voices: str | None = Field(None, description="which speakers fall back to espeak-ng, and how to get neural voices")
    cast: list[dict[str, Any]] = Field(default_factory=list, description="speaker -> engine and voice; a cloned "
                                                                         "voice with its consent record")
    quote: Quote | None = Field(None, description="third-party spend quoted before the run started")
    spend: dict[str, Any] = Field(default_factory=dict, description="quoted vs actual third-party spend per stage")
    providers: list[dict[str, Any]] = Field(default_factory=list, description="model APIs that made this "
                                            "episode's media: counterparty, model, tasks, their own labels")
    takes: dict[str, Any] = Field(default_factory=dict, description="every take of every shot, the usable-take "
                                  "rate, and cost per finished minute including the takes not used")
    review: dict[str, Any] = Field(default_factory=dict, description="people's decisions on the takes (review.json): "
                                   "who approved or rejected which take, when and why, and the redos they asked for")
    assets: list[dict[str, Any]] = Field(default_factory=list, description="library asset versions this episode "
                                         "used, with their hashes, provenance, rights and consents (microdrama assets)")
    usage: list[UsageRecord] = Field(default_factory=list)
    host: dict[str, Any] = Field(default_factory=dict)
    producer: dict[str, Any] = Field(default_factory=dict, description="the producer agent's run over this episode: "
                                     "status, spend, limits and its decision log (producer.json, with its sha256)")

    @classmethod
    def read(cls, run_dir: Path) -> "Manifest":
        path = Path(run_dir) / "manifest.json"
        if not path.is_file():
            raise InputError(f"{run_dir}: no manifest.json — is it a finished run folder (out/<run>)?")
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path}: not a complete run manifest ({str(exc).splitlines()[0]}); "
                             "render the episode again") from None

    @classmethod
    def annotate(cls, run_dir: Path, **records: Any) -> bool:
        """Add what an actor above the run did (the producer agent's decision log) to a finished run's manifest,
        atomically, leaving the run's own record as it was. False when the run has no manifest (not finished)."""
        path = Path(run_dir) / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        unknown = set(records) - set(cls.model_fields)
        if unknown:
            raise InputError(f"manifest: no field {sorted(unknown)} to record")
        data.update({k: json.loads(json.dumps(v, default=str)) for k, v in records.items()})
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2))
        return True


# ---- before a run: read and check everything, write nothing ------------------------------------------


def configure(config: ProjectConfig, *, visual: str | None = None,
              environ: dict[str, str] | None = None) -> tuple[ProjectConfig, list[str]]:
    """The config a command runs with, and a note for each choice made for the user.

    `visual="video"` picks the diffusers video skill (and checks its model folder up front);
    an LLM server named in the environment (MICRODRAMA_LLM_*) is used when the config has none,
    and then writes the screenplay unless the config chose another writer.
    """
    from microdrama.llm.provider import ProviderConfig

    notes: list[str] = []
    if visual not in (None, "animatic", "video"):
        raise InputError(f"--visual must be 'animatic' or 'video', not {visual!r}")
    if visual == "video":
        from microdrama.diffusion_registry import ModelRegistry, check_folder

        config = config.model_copy(update={"stages": config.stages.model_copy(update={"visuals": "video-diffusers"})})
        check_folder(ModelRegistry.load(config.video.registry).get(config.video.model))  # says what to download
    provider = ProviderConfig.from_env(os.environ if environ is None else environ)
    if provider and config.llm is None:
        config = config.model_copy(update={"llm": provider})
    if config.llm and config.stages.screenplay == "screenplay-rules":
        config = config.model_copy(update={"stages": config.stages.model_copy(update={"screenplay": "screenplay-llm"})})
        notes.append(f"writer: screenplay-llm agents on {config.llm.identity}")
    if config.llm and config.stages.continuity == "continuity-rules":
        config = config.model_copy(update={"stages": config.stages.model_copy(update={"continuity": "continuity-llm"})})
    return config, notes


def wants_references(config: ProjectConfig) -> bool:
    if config.stages.visuals == "animatic":
        return False
    if config.video.reference_model:
        return True
    skill = default_registry().create(config.stages.visuals)
    return bool(getattr(skill.parse_options(skill.options_from_config(config)), "i2v_model", None))


def check_run_name(name: str) -> str:
    """A run folder name is one plain path component: it can never point outside the output folder."""
    bad = (not name or name in (".", "..") or len(name) > 120
           or any(ch in name for ch in "/\\") or any(ord(ch) < 32 for ch in name))
    if bad:
        raise InputError(f"run name {name!r}: use one folder name (letters, digits, '-', '_'; no '/', '..' or "
                         "control characters), e.g. --name ep01")
    return name


def used_stages(config: ProjectConfig) -> list[str]:
    return [s for s in type(config.stages).model_fields if s not in UNUSED_STAGES[config.render.mode]]


def check_stages(config: ProjectConfig, registry: SkillRegistry | None = None, keys: bool = True) -> None:
    """Every chosen skill exists, serves its stage, and accepts its options (and, with `keys`, every model-API
    account has its key): checked before a run writes."""
    registry = registry or default_registry()
    for stage in used_stages(config):
        skill_cls = registry.get(getattr(config.stages, stage))
        if skill_cls.stage != stage:
            raise InputError(f"stages.{stage}: skill '{skill_cls.name}' is a {skill_cls.stage} skill, "
                             f"not a {stage} skill; choose one of {registry.names(stage)}")
    for name in config.options:
        skill_cls = registry.get(name)  # unknown names get a suggestion
        skill_cls().parse_options(skill_cls.options_from_config(config))
    from microdrama.cloud.jobs import CloudProvider

    for stage in used_stages(config) if keys else []:  # a missing key fails now, not at the first paid call
        skill = registry.create(getattr(config.stages, stage))
        provider = getattr(skill.parse_options(skill.options_from_config(config)), "provider", None)
        if isinstance(provider, CloudProvider):
            provider.api_key()
    for i, bed in enumerate(config.music):
        if not Path(bed.file).is_file():
            raise InputError(f"music[{i}].file: {bed.file} does not exist")


def load_translation(config: ProjectConfig, screenplay: Screenplay) -> dict[str, str]:
    """Bilingual subtitles: line id -> translation, from a mapping file or a translated screenplay."""
    path = config.subtitles.translation
    if path is None:
        return {}
    data = read_yaml(path, "Fix subtitles.translation in the config.")
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


def qa_plan(config: ProjectConfig, language: str) -> str | None:
    """Why dub QA cannot run for this episode, or None when it can."""
    if config.qa.dub_qa == "off":
        return "switched off (qa.dub_qa: off)"
    if config.qa.dub_qa == "auto" and config.whisper.model_path is None and language != "en":
        # Measured: the bundled multilingual base hears espeak-ng Mandarin at CER 0.7-1.6 (and can loop for
        # seconds), so every line would be flagged and re-dubbed for nothing. Ask for it explicitly.
        return (f"the bundled Whisper base is too small to judge synthetic '{language}' speech; set qa.dub_qa: on "
                "to run it anyway, or whisper.model_path to a larger model (large-v3, turbo)")
    try:
        import faster_whisper  # noqa: F401
        english_only = config.whisper.is_english_only(language)
        config.whisper.resolved_path(language)
    except (ImportError, MicrodramaError) as exc:
        reason = f"no Whisper available ({str(exc).splitlines()[0]})"
    else:
        if language == "en" or not english_only:
            return None
        reason = f"the Whisper model is English-only and the episode is '{language}'; configure whisper.model_path"
    if config.qa.dub_qa == "on":
        raise InputError(f"qa.dub_qa is 'on' but dub QA cannot run: {reason}")
    return reason


def check_subtitles_fit(screenplay: Screenplay, config: ProjectConfig) -> None:
    """Refuse now, before a voice is paid for, a line the subtitle stage would refuse later: the
    configured storyboard and subtitle skills judge it, with timing estimated from the text."""
    import tempfile

    from microdrama.skill import SkillContext

    if config.qa.align_subtitles and qa_plan(config, screenplay.series.language) is None:
        return  # Whisper's word times will split long lines into several events: they always fit
    registry = default_registry()
    with tempfile.TemporaryDirectory(prefix="microdrama-fit-") as tmp:
        board = registry.create(config.stages.storyboard)(
            StoryboardInput(screenplay=screenplay, fps=config.render.fps, contact_sheet=False),
            SkillContext(Path(tmp))).output.storyboard
    subtitles = registry.create(config.stages.subtitles)
    subtitles.check_inputs(
        SubtitlesInput(storyboard=board, width=config.render.width, height=config.render.height,
                       style=config.subtitles.style()),
        subtitles.parse_options(subtitles.options_from_config(config)))


def music_beds(config: ProjectConfig, storyboard: Storyboard) -> list[MusicBed]:
    """The configured beds placed on the cut: one per contiguous run of the scenes each plays under."""
    scene_ids = list(dict.fromkeys(ts.scene_id for ts in storyboard.shots))
    beds = []
    for i, m in enumerate(config.music):
        unknown = [s for s in m.scenes if s not in scene_ids]
        if unknown:
            raise InputError(f"music[{i}].scenes: {', '.join(unknown)} is not a scene of this episode "
                             f"(scenes: {', '.join(scene_ids)})")
        spans: list[list[float]] = []
        for ts in storyboard.shots:
            if m.scenes and ts.scene_id not in m.scenes:
                continue
            end = round(ts.start_s + ts.duration_s, 4)
            if spans and abs(spans[-1][1] - ts.start_s) < 1e-3:
                spans[-1][1] = end
            else:
                spans.append([ts.start_s, end])
        beds += [MusicBed(file=str(m.file), licence=m.licence, start_s=a, end_s=b, gain_db=m.gain_db,
                          duck_db=m.duck_db) for a, b in spans]
    return beds


def opening_text(config: ProjectConfig, language: str) -> str | None:
    """The opening card (片头): the filing or licence number, when there is one."""
    licence = config.filing.licence_number
    if not licence:
        return None
    return f"备案号：{licence}" if language == "zh" else f"Filing No. {licence}"


def take_fit(take_frames: int, shot_frames: int, fps: int) -> str:
    """How a take fits its shot, in words for the take log and the studio: exact, its tail cut, or its last
    frame held (a take kept through a line edit; see `stages.take_lengths`)."""
    if take_frames > shot_frames:
        return f"last {(take_frames - shot_frames) / fps:.2f} s cut"
    if take_frames < shot_frames:
        return f"last frame held {(shot_frames - take_frames) / fps:.2f} s"
    return "exact"


def finish_input(config: ProjectConfig, shot: TimedShot, subs: SubtitleFiles, clip: ShotClip,
                 language: str) -> FinishInput:
    """What the finish stage burns into one shot: its own subtitle rows and the marks, timed from the shot's
    start, so shots after an edited line are not re-finished just because they moved."""
    mark, mine = config.mark, {cue.line_id for cue in shot.cues}
    events = [SubEvent(start_s=ev.shot_start_s, end_s=ev.shot_end_s, rows=ev.rows, secondary_rows=ev.secondary_rows)
              for ev in subs.events if ev.line_id in mine] if config.subtitles.burn_in else []
    opening = opening_text(config, language)
    return FinishInput(
        shot_id=shot.shot.id, clip=clip.video, clip_frames=clip.frames, frames=shot.frames,
        encode=config.render.final_encode(),
        events=events, style=config.subtitles.style(), mark=mark,
        mark_until_s=None if mark.seconds is None else round(max(0.0, mark.seconds - shot.start_s), 4),
        opening_text=opening if opening and shot.start_s < OPENING_SECONDS else None,
        opening_until_s=round(max(0.0, OPENING_SECONDS - shot.start_s), 4) if opening else 0.0)


# ---- the run -----------------------------------------------------------------------------------------


class Run:
    """Per-run state: the store, the attribution, the collected usage and progress output."""

    def __init__(self, config: ProjectConfig, out_dir: Path, run_name: str, episode: int | None,
                 force: bool = False, echo: Callable[[str], None] | None = None, flow: str = "episode",
                 budget: "Budget | None" = None, takes: int = 1) -> None:
        from microdrama.ledger import Ledger, ledger_url
        from microdrama.ledger.rates import RateCards

        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise InputError(f"--out {out_dir} is a file; give a folder for the run folders")
        self.id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        self.config = config
        self.dir = Path(out_dir) / run_name
        self.store = ArtifactStore(Path(out_dir) / ".store")
        self.episode = episode
        self.flow = flow
        self.force = force
        self.echo = echo or print
        self.records: list[UsageRecord] = []
        self.music: list[MusicBed] = []  # the beds under this cut, for the manifest
        self.sound: MixedSound | None = None  # the mix stage's output: its meter reading goes in the manifest
        self._extras: list[Future] = []  # covers and stems, written beside the labels (publish_outputs)
        self.writing: dict[str, Any] = {}  # how the screenplay was written and fitted, for the manifest
        self.voices_note: str | None = None  # which speakers fall back to espeak-ng, for the manifest
        self.cast: list[dict[str, Any]] = []  # who speaks with which voice (and on whose consent), for the manifest
        self.assets: list[dict[str, Any]] = []  # library asset versions the episode uses, for the manifest
        self.budget = budget  # a spending cap: a paid call that would cross it is refused before it is sent
        self.quote: Quote | None = None  # what the run was quoted before it started, for the manifest
        self.takes = takes  # generations per shot: the first goes into the cut, the others wait for review
        self.take_log: list[dict[str, Any]] = []  # every take: in the cut, awaiting review, rejected, or failed (why)
        self.review = ReviewLog.load(self.dir)  # what people decided in the studio: redos and the take in the cut
        self._records_lock = threading.Lock()
        # At most this many renders (ffmpeg encodes, or GPU work) at a time: bounds memory and contention.
        self.render_slots = threading.BoundedSemaphore(config.max_parallel_renders)
        self.meter: Meter | None = None
        if config.ledger.enabled:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            self.meter = Meter(Ledger(ledger_url(config.ledger.url, out_dir)), RateCards.load(config.ledger.rate_card))

    def progress(self, message: str) -> None:
        self.echo(message)

    def stage(self, stage: str, inputs: StageModel, *, task_name: str, shot_id: str | None = None,
              line_id: str | None = None, skill_name: str | None = None) -> BaseModel:
        """Call the stage's configured skill (or `skill_name`) through the store; its usage is attributed
        and priced."""
        skill, inputs, options = self._call(stage, inputs, skill_name)
        who = Attribution(run_id=self.id, project_code=self.config.project_code, flow=self.flow, task=task_name,
                          episode=self.episode, shot_id=shot_id, line_id=line_id)

        def meter(key: str, usage: Usage) -> None:
            if self.meter:
                self.meter.record(who, usage, key, force=self.force)

        reserved = self._reserve(skill, inputs, options, f"{task_name} {shot_id or line_id or ''}".strip())
        try:
            result = self.store.run(skill, inputs, options, force=self.force, log=self.echo, before_commit=meter)
        except BilledError as exc:  # failed, but the provider charged for it: the cost is real
            self._settle(reserved, exc.usage)
            if self.meter:
                self.meter.record(who, exc.usage, self.store.key(skill, inputs, options), billed_failure=True,
                                  attempt=exc.attempt)
            kept = getattr(exc, "kept", None)  # what the provider was asked and answered, for the audit
            for f in sorted(kept.glob("*.json")) if kept else []:
                publish(f, self.dir / "llm" / task_name / "failed" / f.name)
            raise
        except BaseException:
            self._settle(reserved, None)
            raise
        self._settle(reserved, None if result.cached else result.usage)
        with self._records_lock:
            self.records.append(UsageRecord(
                run_id=self.id, project_code=self.config.project_code, flow=self.flow, task=task_name,
                episode=self.episode,
                shot_id=shot_id, line_id=line_id, cache_key=result.key, cached=result.cached, usage=result.usage,
            ))
        return result.output

    def _call(self, stage: str, inputs: StageModel, skill_name: str | None = None):
        """The configured skill of a stage (or `skill_name`), the inputs as it takes them, and its options."""
        skill = default_registry().create(skill_name or getattr(self.config.stages, stage))
        if skill.stage != stage:
            raise InputError(f"'{skill.name}' is a {skill.stage} skill, not a {stage} skill; choose one of "
                             f"{default_registry().names(stage)}")
        inputs = skill.parse_input(inputs.model_dump()) if not isinstance(inputs, skill.Input) else inputs
        return skill, inputs, skill.parse_options(skill.options_from_config(self.config))

    def holds(self, stage: str, inputs: StageModel, skill_name: str | None = None) -> bool:
        """Whether the store already holds this step's output, intact (so running it costs nothing)."""
        return not self.force and self.store.has(*self._call(stage, inputs, skill_name))

    def shot_held(self, shot: TimedShot, characters: list[Character], language: str,
                  references: dict[str, str]) -> bool:
        """Whether the store holds every take of a shot."""
        return all(self.holds("visuals", self.visuals_input(shot, take, characters, language, references))
                   for take in self.takes_of(shot.shot.id))

    def finish_held(self, shot: TimedShot, subs: SubtitleFiles, clip: Any, language: str) -> bool:
        """Whether the store holds a shot's finished segment; False while its clip is still being rendered."""
        return isinstance(clip, ShotClip) and self.holds("finish", finish_input(self.config, shot, subs, clip, language))

    def library_image(self, character_id: str) -> str | None:
        """The reference image of a character cast from the asset library (Run.assets), if it has one."""
        return next((a["image_path"] for a in self.assets
                     if a.get("used_by") == f"character {character_id}" and a.get("image_path")), None)

    def wants_references(self) -> bool:
        """Whether shots start from character reference images: a diffusers image-to-video model with a
        reference model, or a cloud video skill with an image-to-video model."""
        return wants_references(self.config)

    def concurrency_name(self) -> str | None:
        """The Prefect global concurrency limit that bounds this run's visuals across workers: one per GPU
        device, or one per model-API account (its own limits are per account); None for the animatic."""
        if self.config.stages.visuals == "animatic":
            return None
        skill = default_registry().create(self.config.stages.visuals)
        provider = getattr(skill.parse_options(skill.options_from_config(self.config)), "provider", None)
        if provider is not None:
            return f"microdrama-api-{provider.adapter}-{provider.host.replace(':', '-')}"
        from microdrama.deploy import device_limit_name  # `auto` resolved: the name `microdrama deploy` made

        return device_limit_name(self.config.video.device)

    # -- takes ------------------------------------------------------------------------------------

    def visuals_input(self, shot: TimedShot, take: int, characters: list[Character], language: str,
                      references: dict[str, str]) -> VisualsInput:
        """What one take of a shot is generated from: the shot at the first of its take lengths (`take_lengths`)
        whose picture the store already holds — a take made before an edit that still fits the shot — else at
        the whole seconds that cover it."""
        fps = self.config.render.fps
        candidates = [VisualsInput(shot=take_shot(shot, frames, fps), characters=characters, language=language,
                                   encode=self.config.render.clip_encode(), reference_images=references, take=take)
                      for frames in take_lengths(shot.frames, fps)]
        return next((c for c in candidates if self.holds("visuals", c)), candidates[0])

    def takes_of(self, shot_id: str) -> range:
        """The takes to render for a shot: the run's count, or more where a person asked for a redo."""
        return range(1, self.review.takes_for(shot_id, self.takes) + 1)

    @contextlib.contextmanager
    def take(self, shot: TimedShot, take: int, clips: dict) -> Iterator[None]:
        """Record one take of a shot (`clips` is filled by the caller), with how it fits the shot (`take_fit`). A
        failed take is recorded with its reason and the run goes on, unless it was the shot's only hope
        (`take_in_cut` then fails the shot)."""
        shot_id = shot.shot.id
        record: dict[str, Any] = {"shot_id": shot_id, "take": take}
        try:
            yield
        except MicrodramaError as exc:
            record.update(status="failed", reason=str(exc)[:300])
            with self._records_lock:
                self.take_log.append(record)
            if take == 1 and self.takes_of(shot_id).stop == 2:
                raise
            return
        if take in clips:
            with self._records_lock:
                key = next((r.cache_key for r in reversed(self.records)
                            if r.shot_id == shot_id and r.task == "render-shot"), None)
                record.update(video=clips[take].video, source=clips[take].source, key=key,
                              fit=take_fit(clips[take].frames, shot.frames, self.config.render.fps))
                self.take_log.append(record)

    def take_in_cut(self, shot_id: str, clips: dict):
        """The take the cut uses (the newest approved, else the first not rejected), and every take's status."""
        with self._records_lock:
            mine = [t for t in self.take_log if t["shot_id"] == shot_id and t.get("status") != "failed"]
            if not mine:
                failed = [t for t in self.take_log if t["shot_id"] == shot_id]
                raise RenderError(f"shot {shot_id}: every take failed: {failed[-1]['reason'] if failed else '?'}")
            chosen = self.review.in_cut(shot_id, {t["take"]: t.get("key") for t in mine})
            for t in mine:
                d = self.review.verdict(shot_id, t["take"], t.get("key"))
                t["in_cut"] = t["take"] == chosen
                t["status"] = (d.verdict if d else "accepted" if t["in_cut"] else "awaiting review")
                if d:
                    t.update(by=d.by, at=d.at, **({"reason": d.reason} if d.reason else {}))
        return clips[chosen]

    def _takes_report(self, duration_s: float) -> dict[str, Any]:
        """Take economics: what every take cost, how many were usable, per finished minute."""
        if not self.take_log:
            return {}
        rates = self.meter.rates if self.meter else None
        api, gpu_s = Decimal(0), 0.0
        for record in self.records:
            if record.task != "render-shot" or record.cached:
                continue
            gpu_s += record.usage.gpu_seconds
            if rates:
                api += sum((ln.amount for ln in rates.price_usage(record.usage, date.today())
                            if ln.category == "model_api"), Decimal(0))
        minutes = Decimal(str(duration_s / 60)) if duration_s else Decimal(0)
        accepted = sum(t.get("in_cut", False) or t["status"] == "approved" for t in self.take_log)
        priced = {r.cache_key: r for r in self.records if r.task == "render-shot"}
        for t in self.take_log:  # what each take cost when it was made (a reused take costs nothing now)
            if rates and (r := priced.get(t.get("key") or "")) is not None:
                t["cost"] = str(sum((ln.amount for ln in rates.price_usage(r.usage, date.today())), Decimal(0)))
                t["cached"] = r.cached
        return {"per_shot": self.takes, "takes": sorted(self.take_log, key=lambda t: (t["shot_id"], t["take"])),
                "usable_take_rate": round(accepted / len(self.take_log), 4),
                "api_cost_per_finished_minute": str((api / minutes).quantize(Decimal("0.0001"))) if minutes else None,
                "gpu_minutes_per_finished_minute": round(gpu_s / 60 / float(minutes), 4) if minutes else None,
                "note": "costs include every take, the ones not used in the cut too; a person picks among the "
                        "takes awaiting review (microdrama studio); until then the first take not rejected is in the cut"}

    # -- the budget -------------------------------------------------------------------------------

    def quote_first(self, material: Brief | Screenplay) -> None:
        """Price the episode's paid calls before any is made; refuse to start when the quote is over the cap."""
        from microdrama.library import use_assets
        from microdrama.quote import BudgetExceeded, quote_episode

        # Library assets fill the material; an expired licence or consent or the wrong territory stops the run here.
        self.assets = use_assets(material, self.config, self.dir.parent)
        # A voice model whose licence forbids commercial use stops a commercial production here; limits are noted.
        from microdrama.voice_registry import check_voice_licences

        own = {c.voice.engine for c in material.series.characters if c.voice and c.voice.engine} \
            if isinstance(material, Screenplay) else set()
        for note in check_voice_licences(self.config, own):
            self.progress(f"voices: {note}")
        self.quote = quote_episode(material, self.config, takes=self.takes)
        total = Decimal(self.quote.total)
        if self.budget is not None:
            left = self.budget.cap - self.budget.spent - self.budget.reserved
            if total > left:
                raise BudgetExceeded(f"budget: the episode is quoted at {total:.4f} {self.quote.currency} of model-API "
                                     f"calls, more than the {left:.4f} left of the {self.budget.cap} cap; nothing was "
                                     "sent. `microdrama quote` shows the calls; raise --budget or choose cheaper models")
        if total:
            self.progress(f"quote: {total:.4f} {self.quote.currency} of model-API calls"
                          + (f" (budget {self.budget.cap})" if self.budget else ""))

    def _reserve(self, skill, inputs, options, what: str) -> Decimal:
        """Hold this call's quoted price against the budget (nothing for a step already in the store)."""
        if self.budget is None or self.meter is None or self.store.has(skill, inputs, options):
            return Decimal(0)
        quantities = skill.quote(inputs, options)
        amount = price(self.meter.rates, skill, options, quantities)[0] if quantities else Decimal(0)
        self.budget.reserve(amount, what)
        return amount

    def _settle(self, reserved: Decimal, usage: Usage | None) -> None:
        if self.budget is None or self.meter is None:
            return
        actual = Decimal(0)
        if usage is not None:
            actual = sum((line.amount for line in self.meter.rates.price_usage(usage, date.today())
                          if line.category == "model_api"), Decimal(0))
        self.budget.settle(reserved, actual)

    # -- the length policy ------------------------------------------------------------------------

    def refit_pace(self, material: Brief | Screenplay, screenplay: Screenplay,
                   line_seconds: dict[str, float]) -> float | None:
        """The voices' measured pace when the episode written from a brief misses its target by more than
        ±15% and its writer re-writes for free; None to keep it. Either way the figures go to the manifest."""
        if not isinstance(material, Brief):
            return None
        writer = default_registry().get(self.config.stages.screenplay)
        target, first = material.target_seconds, estimate_episode_seconds(screenplay, line_seconds=line_seconds)
        self.writing = {"writer": writer.name, "target_s": target, "first_pass_s": round(first, 2), "refits": 0}
        if abs(first - target) <= LENGTH_TOLERANCE * target or not writer.refits_after_dubbing:
            return None
        pace = measured_pace(screenplay, line_seconds)
        self.writing.update(refits=1, pace=round(pace, 3))
        self.progress(f"length: {first:.1f} s against a target of {target} s; writing again at the voices' pace "
                      f"({pace:.2f}× the text estimate)")
        return pace

    # -- the dub-QA retake policy ----------------------------------------------------------------

    def dub_step(self, line: SpokenLine, screenplay: Screenplay,
                 slower: bool = False) -> tuple[str, DubbingInput, str | None]:
        """(stage, inputs, skill) of dubbing a line: the speaker's voice, on its own engine, else stages.dubbing."""
        voice = screenplay.voice_of(line.speaker, self.config.narrator_voice)
        if slower:
            voice = voice.model_copy(update={"rate": max(80, int(voice.rate * 0.85))})
        return "dubbing", DubbingInput(line_id=line.id, text=line.text, language=screenplay.series.language,
                                       voice=voice, emotion=line.emotion), voice.engine

    def dub(self, line: SpokenLine, screenplay: Screenplay, *, slower: bool = False) -> DubbedLine:
        stage, inputs, engine = self.dub_step(line, screenplay, slower)
        return self.stage(stage, inputs, task_name="dub-retake" if slower else "dub-line", shot_id=line.shot_id,
                          line_id=line.id, skill_name=engine)

    def check_dub(self, line: SpokenLine, screenplay: Screenplay,
                  dubbed: DubbedLine) -> tuple[LineQA, DubbedLine, list[dict]]:
        """Whisper hears the dubbed line; a line scoring over the threshold is re-dubbed once, slower,
        and the better take is kept. Returns the QA row, the take kept and its words for alignment."""
        lang = screenplay.series.language

        def hear(take: DubbedLine):
            transcript = self.stage("transcribe", TranscribeInput(audio=take.audio, language=lang),
                                    task_name="dub-qa", shot_id=line.shot_id, line_id=line.id)
            metric, score = error_rate(line.text, transcript.text, lang)
            return transcript, metric, score

        transcript, metric, score = hear(dubbed)
        threshold = self.config.qa.threshold
        qa = LineQA(line_id=line.id, expected=line.text, heard=transcript.text, metric=metric, score=score,
                    flagged=score > threshold)
        if qa.flagged and self.config.qa.resynthesise:
            retake = self.dub(line, screenplay, slower=True)
            t2, _, score2 = hear(retake)
            if score2 < score:
                dubbed, transcript = retake, t2
                qa = qa.model_copy(update={"heard": t2.text, "score": score2, "flagged": score2 > threshold,
                                           "resynthesised": True})
        words = [{"start": w.start, "end": w.end, "word": w.word} for w in transcript.words]
        return qa, dubbed, words

    # -- publishing ------------------------------------------------------------------------------

    def start(self) -> None:
        """Mark the folder as in progress. Earlier outputs stay (each is replaced atomically when this
        run publishes its own) and the source is never touched: a failed re-render of an edited
        `screenplay.yaml` keeps the edit. Only the completion record goes, so nothing looks finished."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "manifest.json").unlink(missing_ok=True)
        (self.dir / FAILED_MARKER).unlink(missing_ok=True)

    def mark_failed(self, error: BaseException) -> None:
        """Say, in the folder itself, that its files are from an earlier run and why this one stopped."""
        with contextlib.suppress(Exception):  # covers and stems still being written finish first
            self.extras_written(keep=False)
        atomic_write_text(self.dir / FAILED_MARKER, (
            f"Run {self.id} failed at {datetime.now(timezone.utc).isoformat(timespec='seconds')}:\n{error}\n\n"
            "The other files in this folder are from an earlier run (or incomplete); there is no manifest.json.\n"
            "Fix the problem and run the same command again: finished steps are reused.\n"))

    def publish_outputs(self, screenplay: Screenplay, board: StoryboardOutput, dubbed: dict[str, DubbedLine],
                        subs: SubtitleFiles, cut: FinalCut, source: Path) -> Path:
        """Everything a person looks at, under stable names in the run folder. Returns the cut's path.

        Files are copies, not links into the store: editing a published file never changes the cache.
        Folders this run fills completely lose the files of earlier runs (the audio of a removed line);
        the source the run was started from is never overwritten or removed."""
        source = Path(source).resolve()
        for folder in REPLACED_FOLDERS:
            target = self.dir / folder
            if target.is_dir() and target.resolve() not in source.parents:
                shutil.rmtree(target)
        for record in self.records:  # prompts and replies of LLM calls, for audit and reproducibility
            transcripts = self.store.folder(record.cache_key) / "llm"
            for f in sorted(transcripts.glob("*.json")) if transcripts.is_dir() else []:
                publish(f, self.dir / "llm" / record.task / f.name)
        for name, text in (("screenplay.yaml", dump_yaml(screenplay)), ("screenplay.json", screenplay.model_dump_json(indent=2))):
            if (self.dir / name).resolve() != source:  # re-rendering an edited screenplay keeps the edit as written
                atomic_write_text(self.dir / name, text)
        atomic_write_text(self.dir / "storyboard.json", board.storyboard.model_dump_json(indent=2))
        if board.sheet_png:
            publish(board.sheet_png, self.dir / "storyboard.png")
            publish(board.sheet_html, self.dir / "storyboard.html")
        for line_id, d in dubbed.items():
            publish(d.audio, self.dir / "audio" / f"{line_id}.wav")
        publish(subs.srt, self.dir / "episode.srt")
        publish(subs.ass, self.dir / "episode.ass")
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microdrama-plan")  # beside the cut's labels
        self._extras.append(pool.submit(self._write_plan, screenplay, cut))
        pool.shutdown(wait=False)
        return publish(cut.video, self.dir / "episode.mp4")

    def start_extras(self, screenplay: Screenplay, board: Storyboard, dubbed: dict[str, DubbedLine],
                     takes: Callable[[], object], sound: Callable[[], MixedSound]) -> None:
        """Covers and stems need the takes (`takes` waits for them) and the mix (`sound`), not the cut: they are
        written, labelled and checked beside the last shots' finishing, in hidden folders that replace covers/ and
        stems/ once the cut is published (`extras_written`) and are dropped if the run fails."""
        for stale in [*self.dir.glob(".covers.*"), *self.dir.glob(".stems.*")]:  # left by a run that was killed
            shutil.rmtree(stale, ignore_errors=True)
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="microdrama-extras")
        self._extras = [pool.submit(self._write_covers, screenplay, board, takes),
                        pool.submit(self._write_stems, screenplay, board, dubbed, takes, sound)]
        pool.shutdown(wait=False)

    def _staged(self, folder: str) -> Path:
        return self.dir / f".{folder}.{self.id}"

    def _write_stems(self, screenplay: Screenplay, board: Storyboard, dubbed: dict[str, DubbedLine],
                     takes: Callable[[], object], sound: Callable[[], MixedSound]) -> None:
        from microdrama.export import clips_in_cut
        from microdrama.stems import write_stems  # stems/: clean picture, dialogue, music, mix (render.stems)

        takes()
        write_stems(self.dir, board, clips_in_cut(self.take_log), {k: d.audio for k, d in dubbed.items()},
                    self.music, self.config, mix=sound().wav, run_id=self.id, title=screenplay.series.title,
                    folder=self._staged("stems"))

    def _write_covers(self, screenplay: Screenplay, board: Storyboard, takes: Callable[[], object]) -> None:
        from microdrama.covers import write_covers  # 9:16 and 3:4 covers, labelled and checked

        takes()
        write_covers(self.dir, screenplay, board, self.take_log, self.config, self.id, folder=self._staged("covers"),
                     reuse_from=self.dir / "covers")

    def _write_plan(self, screenplay: Screenplay, cut: FinalCut) -> None:
        if (per_minute := self._per_finished_minute(self.cost(cut.duration_s))) is not False:
            from microdrama.filing import plan_pack, write_pack  # the plan needs the cost, not the labels

            write_pack(plan_pack(screenplay, self.config, date.today(), per_minute), self.dir / "filing", "plan")

    def _per_finished_minute(self, cost: "RunCost | None") -> Decimal | None | Literal[False]:
        """The cost per finished minute the filing packs quote; False when there is nothing to quote."""
        per_minute = Decimal(cost.per_finished_minute) if cost else None
        return False if self.config.filing.budget_rmb is None and per_minute is None else per_minute

    def extras_written(self, keep: bool = True) -> None:
        """Wait for the covers, stems and plan started beside the cut (their error, if any, is the run's), then
        put the new covers/ and stems/ in place (`keep`), or drop them (a failed run leaves the old ones)."""
        extras, self._extras = self._extras, []
        for future in extras:  # every one finishes before the first error, if any, is raised
            future.exception()
        for folder in ("covers", "stems"):
            staged = self._staged(folder)
            if keep and staged.is_dir() and all(f.exception() is None for f in extras):
                replace_folder(staged, self.dir / folder)
            shutil.rmtree(staged, ignore_errors=True)
        for future in extras:
            future.result()

    def label_outputs(self, files: list[Path], title: str) -> list[dict[str, Any]]:
        """Embed TC260 metadata (and C2PA credentials when configured) in every published file, then
        read everything back: a file that fails its label check stops the run before it is declared done."""
        from microdrama.labels.apply import label_and_check

        reports = label_and_check(files, self.config.labels, lambda path: f"{self.id}-{path.stem}", title)
        failed = [r for r in reports if not r.ok]
        if failed:
            detail = "; ".join(f"{Path(r.path).name}: " + ", ".join(c.clause for c in r.clauses if not c.ok)
                               for r in failed)
            raise RenderError(f"label check failed, episode not published as done: {detail}")
        return [r.as_dict() for r in reports]

    def cost(self, duration_s: float) -> RunCost | None:
        if self.meter is None:
            return None
        cost = self.meter.summary(self.id, {r.cache_key for r in self.records})
        return RunCost(currency=cost.currency, this_run=str(cost.this_run), episode_total=str(cost.episode_total),
                       per_finished_minute=str(cost.per_minute(duration_s)),
                       by_category={k: str(v) for k, v in cost.by_category.items()}, rate_refs=cost.rate_refs,
                       ledger=self.meter.ledger.url)

    def write_filing_packs(self, screenplay: Screenplay, summary: RunSummary, labels: list[dict[str, Any]]) -> None:
        """Planning and online filing packs for this episode (`filing/`), from what this run holds in memory; the
        planning pack was written beside the labels (`publish_outputs`)."""
        from microdrama.filing import FiledEpisode, online_pack, write_pack

        self.extras_written()
        if self._per_finished_minute(summary.cost) is False:
            self.progress("filing packs skipped: no budget configured and no ledger estimate")
            return
        video = next((r for r in labels if Path(r["path"]).name == "episode.mp4"), None)
        filed = FiledEpisode(
            screenplay=screenplay, video=Path(summary.video), sha256=sha256_file(summary.video),
            duration_s=summary.duration_s, cost_rmb=Decimal(summary.cost.episode_total) if summary.cost else Decimal(0),
            label_ok=video["ok"] if video else None,
            failed_clauses=[c["clause"] for c in video["clauses"] if not c["ok"]] if video else [],
            review=self.review.summary(), assets=self.assets)
        write_pack(online_pack([filed], self.config), self.dir / "filing", "online")
        self.progress(f"filing packs: {self.dir / 'filing'}")

    def _spend(self) -> dict[str, Any]:
        if self.meter is None:
            return {}
        registry = default_registry()
        actual: dict[str, Decimal] = {}
        calls: dict[str, int] = {}
        reused: dict[str, int] = {}
        for record in self.records:
            stage = registry.get(record.usage.skill).stage
            if record.cached:
                reused[stage] = reused.get(stage, 0) + 1
                continue
            paid = [ln for ln in self.meter.rates.price_usage(record.usage, date.today()) if ln.category == "model_api"]
            if paid:
                calls[stage] = calls.get(stage, 0) + 1
                actual[stage] = actual.get(stage, Decimal(0)) + sum((ln.amount for ln in paid), Decimal(0))
        from microdrama.quote import spend_report

        return spend_report(self.quote, actual, calls, reused) if (actual or self.quote) else {}

    def _providers(self) -> list[dict[str, Any]]:
        """The provider record of every model-API step (cloud skills write `provider.json`)."""
        found = []
        for record in self.records:
            path = self.store.folder(record.cache_key) / "provider.json"
            if path.is_file():
                found.append({"task": record.task, "shot_id": record.shot_id, "line_id": record.line_id,
                              **json.loads(path.read_text(encoding="utf-8"))})
        return found

    def _voice_model(self, engine: str) -> dict[str, Any]:
        """The voice model behind an engine and its licence (microdrama/voice_registry.py), for the manifest."""
        from microdrama.voice_registry import voice_model_record

        try:
            options = default_registry().get(engine).options_from_config(self.config)
        except MicrodramaError:
            options = {}
        record = voice_model_record(engine, options)
        return {k: record.get(k) for k in ("name", "code_licence", "weights_licence", "commercial", "limits")}

    def _llm_summaries(self) -> dict[str, Any]:
        """Per LLM task: the structured-output tier each call used, tokens, and the length rounds."""
        found = {}
        for record in self.records:
            path = self.store.folder(record.cache_key) / "llm" / "summary.json"
            if path.is_file():
                found[record.task] = json.loads(path.read_text(encoding="utf-8"))
        return found

    def write_manifest(self, source: Path, summary: RunSummary, labels: list[dict[str, Any]],
                       qa: DubQAReport, consistency: dict[str, dict[str, Any]]) -> Manifest:
        """The run's record, written last: its presence with status 'complete' means the run finished."""
        self.extras_written()
        registry = default_registry()
        skills = {}
        for stage in used_stages(self.config):
            cls = registry.get(getattr(self.config.stages, stage))
            skills[stage] = {"skill": cls.name, "version": cls.version, "backend": cls.backend}
        artifacts = {str(p.relative_to(self.dir)): ArtifactInfo(sha256=sha256_file(p), bytes=p.stat().st_size)
                     for p in sorted(self.dir.rglob("*"))
                     if p.is_file() and p.name != "manifest.json"
                     and not any(part.startswith(".") for part in p.relative_to(self.dir).parts)}
        manifest = Manifest(
            run_id=self.id, microdrama_version=__version__,
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            source={"path": str(source), "sha256": sha256_file(source)}, config=self.config, skills=skills,
            episode={"video": "episode.mp4", "duration_s": summary.duration_s, "shots": summary.shots,
                     "lines": summary.lines},
            timings={"wall_seconds": summary.wall_seconds, "steps_run": summary.steps_run,
                     "steps_cached": summary.steps_cached},
            artifacts=artifacts, cost=summary.cost, labels=labels, dub_qa=qa, character_consistency=consistency,
            loudness=self.sound.loudness if self.sound else _loudness_of(summary.video), usage=self.records,
            host={"pid": os.getpid()},
            music=[{**bed.model_dump(), "sha256": sha256_file(bed.file)} for bed in self.music],
            writing={**self.writing, **({"measured_s": summary.duration_s} if self.writing else {}),
                     **({"llm": llm} if (llm := self._llm_summaries()) else {})},
            voices=self.voices_note, cast=[{**c, "model": self._voice_model(c["engine"])} for c in self.cast],
            quote=self.quote, spend=self._spend(),
            providers=self._providers(), takes=self._takes_report(summary.duration_s), review=self.review.summary(),
            assets=self.assets)
        atomic_write_text(self.dir / "manifest.json",
                          json.dumps(manifest.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return manifest


def _loudness_of(video: str) -> dict[str, float] | None:
    try:
        return measure_loudness(video)
    except RenderError:  # a silent cut has no loudness to record
        return None
