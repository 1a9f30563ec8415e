"""Platform delivery: a finished run as the folder one platform's upload form asks for.

Each platform has a preset (assets/platforms/NAME.yaml: frame size, bitrate cap, loudness target, the
bands its UI covers, cover sizes — every number with its source). `deliver` copies the cut when it
already meets the preset and re-encodes only what does not (the picture for size, rate or bitrate; the
sound for loudness), writes the covers at the platform's sizes and the subtitle files, labels what it
changed, runs the label check on every delivered file, and writes a checklist (Markdown + JSON) with
each requirement, the value measured on the delivered file, and pass/fail.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import get_args

from pydantic import Field, model_validator

from microdrama.assets import ASSETS_DIR
from microdrama.domain import Screenplay, Storyboard, Strict, load_model
from microdrama.errors import InputError, RenderError
from microdrama.files import atomic_path, atomic_write_text, publish
from microdrama.stages import Loudness, X264Preset

PLATFORMS_DIR = ASSETS_DIR / "platforms"
CITED = ("size", "max_fps", "max_video_kbps", "audio_kbps", "loudness", "safe_zone", "covers", "max_seconds")


class SafeZone(Strict):
    top: float = Field(ge=0, le=0.5, description="band at the top covered by the platform's UI, fraction of height")
    bottom: float = Field(ge=0, le=0.5, description="band at the bottom covered by the UI (captions, buttons, bar)")


class Platform(Strict):
    """One platform's delivery requirements."""

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    width: int = Field(ge=64, le=4096)
    height: int = Field(ge=64, le=4096)
    max_fps: int = Field(ge=1, le=120)
    max_video_kbps: int = Field(ge=100, le=200000, description="cap on the average video bitrate")
    audio_kbps: int = Field(ge=32, le=512, description="AAC bitrate when the sound is re-encoded")
    loudness: Loudness
    loudness_tolerance_lu: float = Field(1.0, gt=0, le=5, description="how far from the target still passes")
    safe_zone: SafeZone
    covers: dict[str, tuple[int, int]] = Field(min_length=1, description="cover name -> [width, height]")
    max_seconds: float | None = Field(None, gt=0)
    sources: dict[str, str] = Field(description="field -> where the number comes from, or 'conservative default'")

    @model_validator(mode="after")
    def _cited(self) -> "Platform":
        missing = [k for k in CITED if not self.sources.get(k, "").strip()]
        if missing:
            raise ValueError(f"sources: say where {', '.join(missing)} come(s) from (or mark 'conservative default')")
        return self


def platform_names() -> list[str]:
    return sorted(p.stem for p in PLATFORMS_DIR.glob("*.yaml"))


def load_platform(name_or_path: str | Path) -> Platform:
    """A bundled preset by name, or a preset YAML of your own by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PLATFORMS_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise InputError(f"--platform {name_or_path!r}: no such preset; choose one of {', '.join(platform_names())} "
                             "or pass a preset YAML (see assets/platforms/README.md)")
    return load_model(Platform, path)


@dataclass
class Requirement:
    requirement: str
    required: str
    measured: str
    ok: bool


@dataclass
class VideoFacts:
    width: int
    height: int
    fps: float
    video_kbps: float
    duration_s: float
    lufs: float | None
    true_peak_db: float | None


def video_facts(path: Path) -> VideoFacts:
    """Size, rate, average video bitrate (packet bytes over duration) and loudness of a cut."""
    import av

    from microdrama.finishing import measure_loudness

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        size = sum(p.size for p in c.demux(v) if p.size)
        width, height, fps = v.codec_context.width, v.codec_context.height, float(v.average_rate or 0)
        duration = (c.duration or 0) / 1_000_000
    try:
        loud = measure_loudness(path)
        lufs, peak = loud["integrated_lufs"], loud["true_peak_dbtp"]
    except RenderError:  # a silent cut has no loudness
        lufs = peak = None
    return VideoFacts(width, height, fps, size * 8 / 1000 / max(duration, 1e-6), duration, lufs, peak)


def _loudness_ok(f: VideoFacts, p: Platform) -> bool:
    return (f.lufs is not None and abs(f.lufs - p.loudness.integrated_lufs) <= p.loudness_tolerance_lu
            and f.true_peak_db <= p.loudness.true_peak_db + 0.1)


def _picture_ok(f: VideoFacts, p: Platform) -> bool:
    return (f.width, f.height) == (p.width, p.height) and f.fps <= p.max_fps + 1e-3 and f.video_kbps <= p.max_video_kbps


def delivery_preset(preset: str) -> str:
    """The x264 preset of a platform master: the project's, but never faster than veryfast. A delivery is encoded
    once, off the edit loop, and is what the platform re-encodes from: at superfast, a 270-px cut scaled to 1080
    and encoded again lost the measured height of its AI mark (GB 45438 §5.4) in one sampled frame."""
    order = list(get_args(X264Preset))
    return preset if order.index(preset) >= order.index("veryfast") else "veryfast"


def fit_video(src: Path, dst: Path, p: Platform, facts: VideoFacts, config) -> str:
    """The cut at `dst`: copied when it meets the preset; else the picture and/or the sound re-encoded.
    Returns what was done, in words."""
    from microdrama.finishing import MIX_RATE, normalise_loudness
    from microdrama.media import run_ffmpeg

    picture, sound = not _picture_ok(facts, p), not _loudness_ok(facts, p) and facts.lufs is not None
    if not picture and not sound:
        publish(src, dst)
        return "copied (meets the preset)"
    work = dst.parent
    work.mkdir(parents=True, exist_ok=True)
    raw, levelled = work / ".deliver.raw.wav", work / ".deliver.levelled.wav"
    try:
        inputs, amap = ["-i", str(src)], "0:a"
        if sound:
            run_ffmpeg(["-i", str(src), "-map", "0:a", "-ac", "1", "-ar", str(MIX_RATE), "-c:a", "pcm_s16le", raw],
                       what="extracting the sound")
            normalise_loudness(raw, levelled, p.loudness)
            inputs, amap = inputs + ["-i", str(levelled)], "1:a"
        if picture:
            w, h, kbps = p.width, p.height, p.max_video_kbps
            chain = (f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1"
                     + (f",fps={p.max_fps}" if facts.fps > p.max_fps + 1e-3 else ""))
            video = ["-vf", chain, "-c:v", "libx264", "-preset", delivery_preset(config.render.preset),
                     "-crf", str(config.render.crf),
                     "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k", "-pix_fmt", "yuv420p"]
        else:
            video = ["-c:v", "copy"]
        audio = ["-c:a", "aac", "-b:a", f"{p.audio_kbps}k", "-ar", str(MIX_RATE)] if sound else ["-c:a", "copy"]
        with atomic_path(dst) as tmp:
            run_ffmpeg([*inputs, "-map", "0:v", "-map", amap, *video, *audio, "-shortest",
                        "-movflags", "+faststart", tmp], what=f"fitting the cut to {p.name}")
    finally:
        raw.unlink(missing_ok=True)
        levelled.unlink(missing_ok=True)
    return " and ".join(x for x in (f"picture re-encoded to {p.width}x{p.height} ≤ {p.max_video_kbps} kbps"
                                    if picture else "", "sound normalised" if sound else "") if x)


def subtitle_block(config, ass: Path | None) -> tuple[float, float]:
    """(top, bottom) of the tallest burned-in subtitle event, as fractions of the height from the top: the
    bottom row sits `subtitles.bottom_margin` above the frame's bottom, each row about one ASS font size tall."""
    sub = config.subtitles
    tallest = sub.font_size  # one row, when the file is missing or empty
    if ass is not None and ass.is_file():
        import pysubs2

        for ev in pysubs2.load(str(ass)):
            head, _, tail = ev.text.partition(r"\N{\fs")
            rows = (head.count(r"\N") + 1) * sub.font_size + ((tail.count(r"\N") + 1) * sub.secondary_font_size
                                                                if tail else 0)
            tallest = max(tallest, rows)
    bottom = 1 - sub.bottom_margin
    return bottom - tallest / config.render.height, bottom


def check_safe_zone(config, ass: Path | None, p: Platform) -> list[Requirement]:
    """Burned-in subtitles must sit between the platform's top and bottom UI bands."""
    if not config.subtitles.burn_in:
        return [Requirement("subtitles clear of the platform UI", "between the UI bands", "not burned in "
                            "(the platform draws the subtitle file)", True)]
    top, bottom = subtitle_block(config, ass)
    return [Requirement("subtitles above the bottom UI band", f"bottom margin ≥ {p.safe_zone.bottom:.0%} of the "
                        "height", f"{1 - bottom:.1%} (subtitles.bottom_margin)", 1 - bottom >= p.safe_zone.bottom - 1e-9),
            Requirement("subtitles below the top UI band", f"top of the tallest subtitle ≥ {p.safe_zone.top:.0%} "
                        "from the top", f"{top:.1%}", top >= p.safe_zone.top - 1e-9)]


def deliver(run_dir: Path, platform: str | Path, out: Path | None = None) -> tuple[Path, list[Requirement]]:
    """The delivery folder (default RUN_DIR/deliver/NAME) and its checklist."""
    from PIL import Image

    from microdrama.covers import write_covers
    from microdrama.labels.apply import label_file
    from microdrama.labels.check import check_file
    from microdrama.run import Manifest

    preset = load_platform(platform)
    run_dir = Path(run_dir)
    manifest = Manifest.read(run_dir)  # refuses a folder without a complete manifest
    config = manifest.config
    src = run_dir / "episode.mp4"
    if not src.is_file():
        raise InputError(f"{run_dir}: no episode.mp4 — is it a finished run folder (out/<run>)?")
    out = Path(out) if out else run_dir / "deliver" / preset.name
    screenplay = load_model(Screenplay, run_dir / "screenplay.json")
    board = load_model(Storyboard, run_dir / "storyboard.json")
    before = video_facts(src)
    video = out / "episode.mp4"
    action = fit_video(src, video, preset, before, config)
    if not action.startswith("copied") and config.labels.enabled:
        label_file(video, config.labels, produce_id=f"{manifest.run_id}-{preset.name}",
                   title=screenplay.series.title)
    f = video_facts(video)
    req = [Requirement("frame size", f"{preset.width}x{preset.height}", f"{f.width}x{f.height}",
                       (f.width, f.height) == (preset.width, preset.height)),
           Requirement("frame rate", f"≤ {preset.max_fps} fps", f"{f.fps:g} fps", f.fps <= preset.max_fps + 1e-3),
           Requirement("video bitrate", f"≤ {preset.max_video_kbps} kbps", f"{f.video_kbps:.0f} kbps",
                       f.video_kbps <= preset.max_video_kbps),
           Requirement("integrated loudness", f"{preset.loudness.integrated_lufs:g} ± {preset.loudness_tolerance_lu:g} LUFS",
                       "silent" if f.lufs is None else f"{f.lufs:.1f} LUFS", f.lufs is not None and
                       abs(f.lufs - preset.loudness.integrated_lufs) <= preset.loudness_tolerance_lu),
           Requirement("true peak", f"≤ {preset.loudness.true_peak_db:g} dBTP",
                       "silent" if f.true_peak_db is None else f"{f.true_peak_db:.1f} dBTP",
                       f.true_peak_db is not None and f.true_peak_db <= preset.loudness.true_peak_db + 0.1)]
    if preset.max_seconds:
        req.append(Requirement("duration", f"≤ {preset.max_seconds:g} s", f"{f.duration_s:.1f} s",
                               f.duration_s <= preset.max_seconds))
    req += check_safe_zone(config, run_dir / "episode.ass", preset)
    subtitles = [publish(run_dir / n, out / n) for n in ("episode.srt", "episode.ass") if (run_dir / n).is_file()]
    req.append(Requirement("subtitle files", "episode.srt and episode.ass", ", ".join(p.name for p in subtitles) or
                           "none", len(subtitles) == 2))
    covers = write_covers(run_dir, screenplay, board, (manifest.takes or {}).get("takes", []), config, manifest.run_id,
                          sizes=preset.covers, folder=out / "covers")
    for name, size in preset.covers.items():
        path = out / "covers" / f"cover-{name}.jpg"
        got = Image.open(path).size if path.is_file() else None
        req.append(Requirement(f"cover {name}", f"{size[0]}x{size[1]}", f"{got[0]}x{got[1]}" if got else
                               "missing (the run recorded no clean clip)", got == tuple(size)))
    trust = config.labels.signing.trust_anchors if config.labels.signing else None
    for path in [video, *covers]:  # every delivered file that can carry a label
        report = check_file(path, require_c2pa=config.labels.require_c2pa, trust_anchors=trust)
        failed = [c.clause for c in report.clauses if not c.ok]
        req.append(Requirement(f"AIGC label: {path.relative_to(out)}", "every clause passes (GB 45438)",
                               "pass" if report.ok else "fails " + "; ".join(failed), report.ok))
    write_checklist(out, preset, action, req)
    return out, req


def write_checklist(out: Path, p: Platform, action: str, req: list[Requirement]) -> None:
    ok = all(r.ok for r in req)
    atomic_write_text(out / "checklist.json", json.dumps(
        {"platform": p.name, "title": p.title, "ok": ok, "video": action, "requirements": [asdict(r) for r in req],
         "sources": p.sources}, ensure_ascii=False, indent=2) + "\n")
    rows = "\n".join(f"| {r.requirement} | {r.required} | {r.measured} | {'✅ pass' if r.ok else '❌ FAIL'} |" for r in req)
    cites = "\n".join(f"- **{k}**: {v}" for k, v in p.sources.items())
    atomic_write_text(out / "checklist.md", (
        f"# Delivery checklist: {p.title}\n\n**{'READY' if ok else 'NOT READY'}** — video {action}.\n\n"
        f"| requirement | required | measured | result |\n|---|---|---|---|\n{rows}\n\n## Where the numbers come from\n\n"
        f"{cites}\n"))
