"""Project configuration: typed, validated, loadable from YAML (`microdrama demo --config my.yaml`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from microdrama.cloud.jobs import CloudProvider
from microdrama.domain import Strict, Voice, load_model
from microdrama.labels.apply import LabelsConfig
from microdrama.labels.visible import AiMark
from microdrama.llm.provider import ProviderConfig
from microdrama.stages import EncodeSpec, Loudness, SubtitleStyle, X264Preset
from microdrama.whisper import WhisperConfig


class RenderConfig(EncodeSpec):
    """Size, rate and x264 settings of the final cut (`crf`, `preset`) and of intermediate shot clips."""

    clip_crf: int = Field(18, ge=0, le=51, description="x264 quality of intermediate shot clips")
    clip_preset: X264Preset = Field("ultrafast", description="x264 preset of intermediate shot clips")
    loudness: Loudness | None = Field(default_factory=Loudness, description="where the final mix lands "
                                      "(integrated LUFS, true peak dBTP); null = leave the mix as it is")
    mode: Literal["segmented", "single-pass"] = Field(
        "segmented", description="segmented: finish each shot, then join without re-encoding (incremental); "
        "single-pass: one compose encode of the whole episode (stages.compose)"
    )
    stems: bool = Field(True, description="also publish stems/: clean picture, dialogue, music and mix, labelled "
                        "(false skips the join and the extra files)")

    def final_encode(self) -> EncodeSpec:
        return EncodeSpec(width=self.width, height=self.height, fps=self.fps, crf=self.crf, preset=self.preset)

    def clip_encode(self) -> EncodeSpec:
        return EncodeSpec(width=self.width, height=self.height, fps=self.fps, crf=self.clip_crf,
                          preset=self.clip_preset)


class StageConfig(Strict):
    """Which registered skill runs each stage (`microdrama skills list` shows the choices)."""

    screenplay: str = Field("screenplay-rules", description="skill name for the screenplay stage")
    dubbing: str = Field("dubbing-espeak", description="skill name for the dubbing stage")
    storyboard: str = Field("storyboard", description="skill name for the storyboard stage")
    visuals: str = Field("animatic", description="skill name for the visuals stage")
    subtitles: str = Field("subtitles", description="skill name for the subtitles stage")
    finish: str = Field("finish-ffmpeg", description="segmented mode: burns subtitles and marks into each shot")
    mix: str = Field("mix-ffmpeg", description="the sound: lines at their cues, music under them, mastered (both modes)")
    assemble: str = Field("assemble-ffmpeg", description="segmented mode: joins finished shots and adds the sound")
    compose: str = Field("compose-ffmpeg", description="single-pass mode: renders the whole cut in one encode")
    transcribe: str = Field("transcribe-whisper", description="speech recognition for dub QA")
    keyframe: str = Field("keyframe-diffusers", description="character reference images for image-to-video")
    continuity: str = Field("continuity-rules", description="series: checks names, looks, where each episode "
                                                            "opens and repeated lines across episodes")


class SubtitleConfig(SubtitleStyle):
    burn_in: bool = Field(True, description="burn subtitles into the picture (files are written either way)")
    translation: Path | None = Field(
        None, description="bilingual subtitles: YAML/JSON mapping line id -> translation, or a translated screenplay")

    def style(self) -> SubtitleStyle:
        return SubtitleStyle(**{name: getattr(self, name) for name in SubtitleStyle.model_fields})


class QAConfig(Strict):
    dub_qa: Literal["auto", "on", "off"] = Field(
        "auto", description="transcribe every dubbed line with Whisper and score it; auto = when a model fits the language")
    threshold: float = Field(0.5, ge=0, le=5, description="flag lines whose WER/CER is above this")
    resynthesise: bool = Field(True, description="re-dub flagged lines once, slower, and keep the better take")
    align_subtitles: bool = Field(True, description="use Whisper's word times for subtitle timing and splitting")


class MusicConfig(Strict):
    """A music or ambience bed from a local, licensed file, under the whole episode or some scenes."""

    file: Path = Field(description="audio file (WAV, MP3, FLAC, M4A…), relative to the config file")
    licence: str = Field(min_length=3, description="where the right to use it comes from (kept in the manifest)")
    scenes: list[str] = Field(default_factory=list, description="scene ids it plays under; empty = the whole episode")
    gain_db: float = Field(-20.0, ge=-60, le=0, description="its level under the voices, dB")
    duck_db: float = Field(-12.0, ge=-40, le=0, description="how much it dips while someone speaks, dB")


class LedgerConfig(Strict):
    enabled: bool = Field(True, description="record every skill call's usage and cost in the ledger")
    url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///OUT/ledger.sqlite. PostgreSQL: postgresql+pg8000://..."
    )
    rate_card: Path | None = Field(None, description="rate card YAML; default: the bundled dated example card")
    evidence_dir: Path | None = Field(None, description="where evidence files are kept; default OUT/evidence")


class FilingConfig(Strict):
    """What the regulator's planning (规划备案) and online (上线备案) filings ask beyond the screenplay."""

    themes: str = Field("", description="思想内涵: the values and themes the series conveys")
    subject: str = Field("", description="题材: the subject category, e.g. 都市, 文旅, 悬疑")
    episodes_planned: int = Field(1, ge=1, le=500, description="episodes in the series")
    minutes_per_episode: float = Field(1.5, gt=0, le=30, description="planned length of one episode")
    budget_rmb: Decimal | None = Field(None, ge=0, description="planned investment; empty = estimate from the ledger")
    special_subject: bool = Field(False, description="a special subject (重大题材) is always reviewed as 重点")
    licence_number: str | None = Field(None, description="filing/licence number shown on the opening card (片头)")
    platform: str = Field("", description="where it goes online")
    drama_type: int = Field(1, ge=1, le=3, description="1 漫剧/animation, 2 live action, 3 数字真人 digital humans")
    credits: dict[str, str] = Field(default_factory=dict, description="role -> name, e.g. 出品: 某某工作室")
    city_image: bool = Field(False, description="a city-image / cultural-tourism work (城市形象·文旅)")
    territory: str = Field("CN", pattern=r"^[A-Z]{2}$", description="ISO 3166 code of the country of release: "
                           "every library asset the episode uses must be licensed there")


class VideoConfig(Strict):
    """Video-model settings, used when stages.visuals is video-diffusers."""

    model: str = Field("wan2.1-t2v-1.3b", description="registry id of the video model")
    registry: Path | None = Field(None, description="model registry YAML; default: the bundled one")
    device: str = Field("auto", description="cuda, cuda:1, cpu or auto")
    seed: int = Field(0, description="run seed; every shot derives a fixed seed from it and its id")
    steps: int | None = Field(None, ge=1, description="override the model's default denoising steps")
    reference_model: str | None = Field(
        None, description="text-to-image model for per-character reference images (needed by image-to-video)")


class ProjectConfig(Strict):
    project_code: str = Field(
        "RD-DEMO", pattern=r"^[A-Za-z0-9_.-]+$", description="R&D project code every cost is attributed to"
    )
    studio: str = Field("", description="studio or company name")
    commercial: bool = Field(True, description="a commercial production (sold, monetised, made for a client): voice "
                             "models whose licence forbids commercial use are refused (assets/models/voices.yaml); "
                             "false only for research or private work")
    render: RenderConfig = Field(default_factory=RenderConfig)
    stages: StageConfig = Field(default_factory=StageConfig)
    subtitles: SubtitleConfig = Field(default_factory=SubtitleConfig)
    mark: AiMark = Field(default_factory=AiMark, description="the visible AI-generated mark")
    narrator_voice: Voice = Field(default_factory=lambda: Voice(gender="male", variant=2, pitch=42, rate=155))
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    whisper: WhisperConfig = Field(default_factory=WhisperConfig, description="speech recognition for QA and transcripts")
    qa: QAConfig = Field(default_factory=QAConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    llm: ProviderConfig | None = Field(None, description="OpenAI-compatible model server for LLM skills and agents")
    cloud: dict[str, CloudProvider] = Field(default_factory=dict, description="model-API accounts for pictures, "
                                            "motion and voices, by name, e.g. {dashscope: {adapter: dashscope, ...}}")
    labels: LabelsConfig = Field(default_factory=LabelsConfig, description="AIGC metadata and C2PA credentials")
    filing: FilingConfig = Field(default_factory=lambda: FilingConfig())
    music: list[MusicConfig] = Field(default_factory=list, description="music or ambience beds, ducked under dialogue")
    max_parallel_renders: int = Field(2, ge=1, le=64, description="shots rendered at the same time")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per skill name, that skill's own options (`microdrama skills list` "
        "names them); checked against the skill's Options before a run starts")

    @classmethod
    def load(cls, path: str | Path | None) -> "ProjectConfig":
        """Load a config; relative file paths inside it are relative to the config file, not the shell."""
        if path is None:
            return cls()
        cfg = load_model(cls, path)
        base = Path(path).resolve().parent

        def anchored(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        updates = {
            "subtitles": cfg.subtitles.model_copy(update={"translation": anchored(cfg.subtitles.translation)}),
            "ledger": cfg.ledger.model_copy(update={"rate_card": anchored(cfg.ledger.rate_card),
                                                    "evidence_dir": anchored(cfg.ledger.evidence_dir)}),
            "whisper": cfg.whisper.model_copy(update={"model_path": anchored(cfg.whisper.model_path)}),
            "video": cfg.video.model_copy(update={"registry": anchored(cfg.video.registry)}),
            "music": [m.model_copy(update={"file": anchored(m.file)}) for m in cfg.music],
        }
        if cfg.labels.signing:
            s = cfg.labels.signing
            updates["labels"] = cfg.labels.model_copy(update={"signing": s.model_copy(update={
                "cert_chain": anchored(s.cert_chain), "private_key": anchored(s.private_key),
                "trust_anchors": anchored(s.trust_anchors)})})
        return cfg.model_copy(update=updates)
