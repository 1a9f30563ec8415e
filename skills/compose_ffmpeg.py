"""Compose: the final cut in one ffmpeg filtergraph.

Shot clips are concatenated, the dialogue track is laid out sample-exactly from the storyboard's
cues, subtitles are burned in with libass and the visible "AI生成" mark is drawn on top, all in a
single encode to 1080x1920, 30 fps, H.264/AAC MP4. Measured on 2 CPU cores, one filtergraph
renders 6-14x faster than moviepy's frame-by-frame compositing (which also cuts off the last row
of wrapped Chinese text in TextClip), so it is the default. The output is written under a
temporary name and renamed only after ffmpeg succeeded and the result was probed.
"""

from __future__ import annotations

import math
import shutil
import wave
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from microdrama.domain import Storyboard
from microdrama.errors import InputError, RenderError
from microdrama.media import cjk_font_path, probe, run_ffmpeg
from microdrama.panels import font
from microdrama.skill import Skill, SkillContext, atomic_write_text, temp_path_for

MIX_RATE = 48000


class AiMark(BaseModel):
    """The visible AIGC mark (GB 45438-2025 §5.4: text height >= 5% of the shorter side)."""

    text: str = Field("AI生成", min_length=1, description="the label text, e.g. 'AI生成' or '本视频由AI生成'")
    height_fraction: float = Field(
        0.055, ge=0.05, le=0.2, description="ink height of the text / shorter side of the frame; at least 0.05"
    )
    position: str = Field("top_right", pattern="^(top_left|top_right)$", description="top_left or top_right")
    seconds: float | None = Field(None, gt=2, description="show only for the first N (>2) seconds; None = whole video")
    audio: Literal["none", "morse"] = Field(
        "none", description="§5.3 audio label: 'morse' plays the short-long-short-short rhythm (Morse 'AI') at the start"
    )


class ComposeInput(BaseModel):
    storyboard: Storyboard
    clips: dict[str, str] = Field(description="shot id -> path of its silent video clip")
    line_audio: dict[str, str] = Field(default_factory=dict, description="line id -> path of its WAV")
    subtitles_ass: str | None = Field(None, description="ASS file to burn in; None for a clean picture")
    opening_text: str | None = Field(None, description="opening card (片头) text, e.g. the filing number")
    opening_seconds: float = Field(3.0, gt=0, le=10, description="how long the opening card shows")
    mark: AiMark = Field(default_factory=AiMark)
    width: int = Field(1080, ge=64)
    height: int = Field(1920, ge=64)
    crf: int = Field(21, ge=0, le=51, description="x264 quality (lower is better and bigger)")
    preset: str = Field("veryfast", description="x264 preset")
    basename: str = Field("episode", pattern=r"^[A-Za-z0-9_-]+$")


class FinalCut(BaseModel):
    video: str
    duration_s: float
    frames: int
    dialogue_wav: str


def mark_font_size(text: str, target_height_px: float) -> int:
    """Font size whose rendered ink height reaches the target (CJK glyphs are shorter than 1 em)."""
    ref = 100
    left, top, right, bottom = font(ref).getbbox(text)
    return math.ceil(target_height_px * ref / max(1, bottom - top))


def morse_ai(rate: int = MIX_RATE, unit_s: float = 0.07, hz: float = 880.0, level: float = 0.22) -> np.ndarray:
    """The GB 45438 §5.3 rhythm: short-long, short-short (Morse 'A' 'I'), as soft sine beeps."""
    unit = int(unit_s * rate)
    pieces = []
    for letter in ("01", "00"):  # 0 = short (1 unit), 1 = long (3 units)
        for i, sym in enumerate(letter):
            n = unit * (3 if sym == "1" else 1)
            t = np.arange(n) / rate
            env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)  # 5 ms fades: no clicks
            pieces.append(np.sin(2 * np.pi * hz * t) * env * level * 32767)
            pieces.append(np.zeros(unit if i < len(letter) - 1 else 3 * unit))
    return np.concatenate(pieces).astype(np.float32)


def mix_dialogue(storyboard: Storyboard, line_audio: dict[str, str], out: Path, audio_label: str = "none") -> None:
    """Place every line's WAV at its cue start on a silent track exactly as long as the video."""
    total = round(storyboard.duration_s * MIX_RATE)
    track = np.zeros(total, dtype=np.float32)
    if audio_label == "morse":
        beeps = morse_ai()[:total]
        track[: beeps.size] += beeps
    for cue in storyboard.cues():
        with wave.open(line_audio[cue.line_id], "rb") as w:
            rate, channels = w.getframerate(), w.getnchannels()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
        if channels > 1:
            data = data.reshape(-1, channels).mean(axis=1)
        if rate != MIX_RATE:  # linear resampling is plenty for speech placement
            n = round(data.size * MIX_RATE / rate)
            data = np.interp(np.linspace(0, data.size - 1, n), np.arange(data.size), data)
        start = round(cue.start_s * MIX_RATE)
        end = min(total, start + data.size)
        track[start:end] += data[: end - start]
    pcm = np.clip(track, -32768, 32767).astype(np.int16)
    tmp = temp_path_for(out)
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MIX_RATE)
        w.writeframes(pcm.tobytes())
    tmp.replace(out)


def write_concat_list(ctx: SkillContext, paths: list[str], name: str) -> Path:
    """An ffmpeg concat-demuxer list with absolute, quoted paths."""
    listing = ctx.path(name)
    atomic_write_text(listing, "".join(
        "file '{}'\n".format(str(Path(p).resolve()).replace("'", r"'\''")) for p in paths))
    return listing


def accept_cut(tmp: Path, out: Path, width: int, height: int):
    """Probe a freshly written cut; only a cut with the right size and one audio stream gets its real name."""
    info = probe(tmp)
    if (info.width, info.height) != (width, height) or info.audio_streams != 1:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"the cut came out {info.width}x{info.height} with {info.audio_streams} audio streams; "
                          f"expected {width}x{height} with one")
    tmp.replace(out)
    return info


def overlay_filters(ctx: SkillContext, width: int, height: int, ass: Path | None, mark: AiMark,
                    mark_until_s: float | None, opening_text: str | None, opening_until_s: float) -> list[str]:
    """ffmpeg filters that burn subtitles, the AI mark and the opening card onto a picture.

    Filtergraph paths are escaping minefields, so fonts and texts are placed in the skill's folder
    and referenced by short relative names (ffmpeg runs with that folder as its working directory).
    `mark_until_s`: None shows the mark throughout, 0 not at all.
    """
    fonts = ctx.work_dir / "fonts"
    fonts.mkdir(exist_ok=True)
    font_file = fonts / cjk_font_path().name
    if not font_file.exists():
        shutil.copyfile(cjk_font_path(), font_file)
    filters = []
    if ass is not None:
        filters.append(f"subtitles=filename={ass.name}:fontsdir=fonts")
    if mark_until_s is None or mark_until_s > 0:
        atomic_write_text(ctx.path("mark.txt"), mark.text)
        size = mark_font_size(mark.text, mark.height_fraction * min(width, height))
        margin = int(min(width, height) * 0.04)
        x = f"w-tw-{margin}" if mark.position == "top_right" else str(margin)
        enable = f":enable='lt(t,{mark_until_s})'" if mark_until_s else ""
        filters.append(f"drawtext=fontfile=fonts/{font_file.name}:textfile=mark.txt:fontsize={size}:fontcolor=white"
                       f":x={x}:y={margin}:box=1:boxcolor=black@0.45:boxborderw={size // 5}{enable}")
    if opening_text and opening_until_s > 0:
        atomic_write_text(ctx.path("opening.txt"), opening_text)
        card = mark_font_size("备案", 0.03 * min(width, height))
        filters.append(f"drawtext=fontfile=fonts/{font_file.name}:textfile=opening.txt:fontsize={card}:fontcolor=white"
                       f":x=(w-tw)/2:y=h*0.2:box=1:boxcolor=black@0.55:boxborderw={card // 3}"
                       f":enable='lt(t,{opening_until_s})'")
    return filters or ["null"]


class FfmpegComposer(Skill[ComposeInput, FinalCut]):
    name = "compose-ffmpeg"
    stage = "compose"
    version = "1"
    backend = "ffmpeg filtergraph (concat + libass + drawtext + x264/aac)"
    description = "Renders the final 9:16 MP4: clips, dialogue mix, burned subtitles and the AI生成 mark in one encode."
    Input = ComposeInput
    Output = FinalCut

    def check_inputs(self, inputs: ComposeInput) -> None:
        board = inputs.storyboard
        missing = [s.shot.id for s in board.shots if s.shot.id not in inputs.clips]
        if missing:
            raise InputError(f"clips: no clip for shot(s) {', '.join(missing)}; render every storyboard shot first")
        for shot_id, path in inputs.clips.items():
            if not Path(path).is_file():
                raise InputError(f"clips[{shot_id}]: {path} does not exist")
        for cue in board.cues():
            path = inputs.line_audio.get(cue.line_id)
            if path is None or not Path(path).is_file():
                raise InputError(f"line_audio[{cue.line_id}]: missing WAV for {cue.text!r}; run dubbing first")
        if inputs.subtitles_ass and not Path(inputs.subtitles_ass).is_file():
            raise InputError(f"subtitles_ass: {inputs.subtitles_ass} does not exist")
        if inputs.mark.seconds is not None and inputs.mark.seconds > board.duration_s:
            raise InputError(f"mark.seconds ({inputs.mark.seconds}) is longer than the episode ({board.duration_s:.1f} s)")

    def run(self, inputs: ComposeInput, ctx: SkillContext) -> tuple[FinalCut, dict[str, float]]:
        board = inputs.storyboard
        work = ctx.work_dir
        dialogue = ctx.path(f"{inputs.basename}.dialogue.wav")
        mix_dialogue(board, inputs.line_audio, dialogue, inputs.mark.audio)

        concat = write_concat_list(ctx, [inputs.clips[s.shot.id] for s in board.shots], f"{inputs.basename}.clips.txt")
        local_ass = None
        if inputs.subtitles_ass:
            local_ass = ctx.path(f"{inputs.basename}.burn.ass")
            shutil.copyfile(inputs.subtitles_ass, local_ass)
        filters = overlay_filters(ctx, inputs.width, inputs.height, local_ass, inputs.mark, inputs.mark.seconds,
                                  inputs.opening_text, inputs.opening_seconds)
        frames = sum(s.frames for s in board.shots)
        out = ctx.path(f"{inputs.basename}.mp4")
        tmp = temp_path_for(out)
        run_ffmpeg(
            ["-f", "concat", "-safe", "0", "-i", concat.name, "-i", dialogue.name,
             "-filter_complex", f"[0:v]{','.join(filters)},format=yuv420p[v]", "-map", "[v]", "-map", "1:a",
             "-frames:v", str(frames), "-r", str(board.fps), "-c:v", "libx264", "-preset", inputs.preset,
             "-crf", str(inputs.crf), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", str(MIX_RATE),
             "-shortest", "-movflags", "+faststart", tmp.name],
            cwd=work, what="final compose",
        )
        info = accept_cut(tmp, out, inputs.width, inputs.height)
        cut = FinalCut(video=str(out), duration_s=info.duration_s, frames=frames, dialogue_wav=str(dialogue))
        return cut, {"frames_encoded": float(frames), "video_seconds": round(frames / board.fps, 4)}
