"""Finishing: what every compose, finish and assemble backend shares.

The dialogue mix laid out sample-exactly from the storyboard, the §5.3 audio rhythm, the ASS file
in the house style, the overlay filters that burn subtitles, the visible AI mark and the opening
card into a picture, and the checks a cut passes before it gets its real name. One home, so the
single-pass composer, the per-shot finisher and the moviepy reference draw the same thing.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pysubs2

from microdrama.domain import Storyboard
from microdrama.errors import InputError, RenderError
from microdrama.files import atomic_path, atomic_write_text
from microdrama.labels.visible import AiMark
from microdrama.media import cjk_font_path, clip_facts, ffmpeg_exe, probe, run_ffmpeg
from microdrama.processes import dies_with_parent
from microdrama.skill import SkillContext
from microdrama.speech import read_wav, write_wav
from microdrama.stages import TAKE_HOLD_SECONDS, Loudness, MixedSound, MusicBed, SubEvent, SubtitleStyle
from microdrama.text import drawable_text, font, wrap_text

MIX_RATE = 48000
# The cut's sound: AAC at 128 kb/s with ffmpeg's fast coder — 4x quicker than its default two-loop search on a
# minute of speech (0.5 s vs 1.8 s here), which every re-render of an edit pays; plenty for dialogue and a bed.
AAC = ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k", "-ar", str(MIX_RATE)]
FONT_NAME = "Noto Sans SC"


def check_cut_sources(storyboard: Storyboard, per_shot: dict[str, str], field: str, noun: str,
                      sound: MixedSound) -> None:
    """Every shot has its picture file and the mix its files, checked before an encode starts."""
    missing = [s.shot.id for s in storyboard.shots if not Path(per_shot.get(s.shot.id, "")).is_file()]
    if missing:
        raise InputError(f"{field}: no {noun} for shot(s) {', '.join(missing)}; render every storyboard shot first")
    for name in ("wav", "aac"):
        if not Path(getattr(sound, name)).is_file():
            raise InputError(f"sound.{name}: {getattr(sound, name)} does not exist; run the mix stage first")
    if abs(sound.duration_s - storyboard.duration_s) > 0.05:
        raise InputError(f"sound: the mix is {sound.duration_s:.2f} s, the storyboard {storyboard.duration_s:.2f} s; "
                         "mix this storyboard's lines again")


def check_sound_sources(storyboard: Storyboard, line_audio: dict[str, str], music: list[MusicBed] = ()) -> None:
    """Every line has its WAV and every music bed its file, checked before the mix starts."""
    for i, bed in enumerate(music):
        if not Path(bed.file).is_file():
            raise InputError(f"music[{i}].file: {bed.file} does not exist")
    for cue in storyboard.cues():
        if not Path(line_audio.get(cue.line_id, "")).is_file():
            raise InputError(f"line_audio[{cue.line_id}]: missing WAV for {cue.text!r}; run dubbing first")


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


def mix_dialogue(storyboard: Storyboard, line_audio: dict[str, str], out: Path, audio_label: str = "none",
                 loudness: Loudness | None = None, music: list[MusicBed] = ()) -> None:
    """Place every line's WAV at its cue start on a silent track exactly as long as the video, lay the music
    beds under it; with a `loudness` target, normalise it there (see `normalise_loudness`)."""
    track = dialogue_track(storyboard, line_audio, audio_label)
    for bed in music:
        track += music_track(bed, storyboard, track.size)
    master_mix(track, out, loudness)


def dialogue_track(storyboard: Storyboard, line_audio: dict[str, str], audio_label: str = "none") -> np.ndarray:
    """The voices alone (with the §5.3 rhythm when `audio_label` is 'morse'), each line at its cue start, as
    float32 samples in int16 scale at MIX_RATE, exactly as long as the video: the mix's first part and the
    dialogue stem."""
    total = round(storyboard.duration_s * MIX_RATE)
    track = np.zeros(total, dtype=np.float32)
    if audio_label == "morse":
        beeps = morse_ai()[:total]
        track[: beeps.size] += beeps
    for cue in storyboard.cues():
        rate, data = read_wav(Path(line_audio[cue.line_id]))
        data = data.astype(np.float32)
        if rate != MIX_RATE:  # linear resampling is plenty for speech placement
            n = round(data.size * MIX_RATE / rate)
            data = np.interp(np.linspace(0, data.size - 1, n), np.arange(data.size), data)
        start = round(cue.start_s * MIX_RATE)
        end = min(total, start + data.size)
        track[start:end] += data[: end - start]
    return track


def master_mix(track: np.ndarray, out: Path, loudness: Loudness | None = None) -> None:
    """A summed track as a 16-bit WAV: clipped as it is without a `loudness` target (or when silent), else
    peak-limited for headroom and normalised to the target."""
    peak = float(np.abs(track).max()) if track.size else 0.0
    if loudness is None or peak == 0.0:  # nothing asked, or nothing said: there is no loudness to set
        write_wav(out, np.clip(track, -32768, 32767), MIX_RATE)
        return
    raw = out.with_name(f".{out.stem}.premix.wav")
    write_wav(raw, track * (32767 / peak if peak > 32767 else 1.0), MIX_RATE)  # headroom before the meter
    try:
        normalise_loudness(raw, out, loudness)
    finally:
        raw.unlink(missing_ok=True)


def decode_audio(path: str | Path, rate: int = MIX_RATE) -> np.ndarray:
    """Any audio file as mono float32 samples in int16 scale at `rate` (PyAV decodes, resamples)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError(f"{path}: no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            chunks = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                      for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not an audio file microdrama can read ({str(exc).splitlines()[0][:100]})") from None
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)


def speech_mask(storyboard: Storyboard, total: int, attack_s: float = 0.08, release_s: float = 0.35) -> np.ndarray:
    """1 while a line is spoken, 0 between lines, with soft ramps either side (for ducking): a follower
    that rises in `attack_s` (starting just before the voice) and falls in `release_s`, run at 100 Hz."""
    rate = 100
    steps = max(1, -(-total * rate // MIX_RATE))
    target = np.zeros(steps + 1, dtype=np.float32)
    for cue in storyboard.cues():
        target[max(0, round((cue.start_s - attack_s) * rate)):round(cue.end_s * rate) + 1] = 1.0
    level, up, down = 0.0, 1.0 / max(1.0, attack_s * rate), 1.0 / max(1.0, release_s * rate)
    envelope = np.zeros_like(target)
    for i, want in enumerate(target):
        level = min(1.0, level + up) if want > level else max(float(want), level - down)
        envelope[i] = level
    return np.interp(np.arange(total) * rate / MIX_RATE, np.arange(envelope.size), envelope).astype(np.float32)


def music_track(bed: MusicBed, storyboard: Storyboard, total: int) -> np.ndarray:
    """The bed laid under its span: looped to length, at its level, dipped under every spoken line."""
    start = round(bed.start_s * MIX_RATE)
    end = min(total, round(bed.end_s * MIX_RATE) if bed.end_s else total)
    out = np.zeros(total, dtype=np.float32)
    source = decode_audio(bed.file)
    if end <= start or source.size == 0:
        return out
    reps = -(-(end - start) // source.size)
    out[start:end] = np.tile(source, reps)[: end - start]
    fade = min(round(0.5 * MIX_RATE), (end - start) // 2)  # half a second in and out: no clicks
    if fade:
        out[start:start + fade] *= np.linspace(0, 1, fade)
        out[end - fade:end] *= np.linspace(1, 0, fade)
    duck = 1.0 - (1.0 - 10 ** (bed.duck_db / 20)) * speech_mask(storyboard, total)
    return out * (10 ** (bed.gain_db / 20)) * duck


def normalise_loudness(raw: Path, out: Path, loudness: Loudness, rounds: int = 6) -> dict[str, float]:
    """Bring dialogue to the integrated target under the true-peak ceiling: a gentle compressor, make-up
    gain and a limiter, the gain corrected from the measured result until it lands within 0.5 LU.
    (Single-pass `loudnorm` lands 2-3 LU short on peaky synthetic speech; measured on the demo.)

    The compressor's threshold is absolute and it comes before the gain, so it runs once; the gain is then
    set from the compressed loudness, and only the limiter is left to correct for (one round, usually two).
    Each pass measures what it wrote in the same ffmpeg process: 2-3 processes instead of 7. Returns the last
    pass's integrated loudness (the limiter bounds the peak; the encode that follows meters it)."""
    ceiling = 10 ** ((loudness.true_peak_db - 1.0) / 20)  # 1 dB under: sample peaks miss inter-sample peaks
    compressed = out.with_name(f".{out.stem}.compressed.wav")
    try:
        level = filter_and_measure(raw, compressed, "acompressor=threshold=0.125:ratio=3:attack=5:release=80",
                                   encode=("-c:a", "pcm_f32le"), true_peak=False, what="compressing the dialogue mix")
        gain = loudness.integrated_lufs - level["integrated_lufs"]
        measured: dict[str, float] = {}
        with atomic_path(out) as tmp:
            for _ in range(rounds):
                chain = f"volume={min(gain, 30.0):.2f}dB,alimiter=limit={ceiling:.4f}:level=false:attack=1:release=60"
                measured = filter_and_measure(compressed, tmp, chain, true_peak=False,  # the limiter holds the peak
                                              what="normalising the dialogue mix")
                miss = loudness.integrated_lufs - measured["integrated_lufs"]
                if abs(miss) <= 0.5:
                    break
                gain += miss
    finally:
        compressed.unlink(missing_ok=True)
    return measured


def filter_and_measure(src: Path, dst: Path, chain: str, encode: Sequence[str] = ("-c:a", "pcm_s16le"),
                       true_peak: bool = True, what: str = "filtering audio") -> dict[str, float]:
    """Run `chain` on `src`'s sound into `dst` (mono, MIX_RATE, encoded with the `encode` options) and meter the
    result in the same process (ffmpeg's EBU R128 meter on a copy of what goes into the encoder): integrated
    loudness (LUFS) and, with `true_peak`, true peak (dBTP). The true-peak meter oversamples 4x: it is half the
    cost of a pass, so a pass that only needs the loudness goes without it."""
    graph = f"[0:a]{chain},asplit=2[out][meter];[meter]ebur128{'=peak=true' if true_peak else ''}[metered]"
    printed = run_ffmpeg(["-i", str(src), "-filter_complex", graph, "-map", "[out]", "-ar", str(MIX_RATE), "-ac", "1",
                          *encode, str(dst), "-map", "[metered]", "-f", "null", "-"],
                         cwd=Path(dst).parent, what=what, loglevel="info")
    return _ebur128_summary(printed, Path(dst).name, true_peak)


def measure_loudness(path: str | Path) -> dict[str, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a file's audio, by ffmpeg's EBU R128 meter —
    a reader independent of the normaliser that set them."""
    proc = subprocess.run(dies_with_parent([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a",
                                            "-af", "ebur128=peak=true", "-f", "null", "-"]),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RenderError(f"could not measure the loudness of {Path(path).name}")
    return _ebur128_summary(proc.stderr, Path(path).name)


class SilentAudio(RenderError):
    """Raised by the loudness meter when there is nothing to measure."""


SILENCE_LUFS = -70.0  # the meter's absolute gate: below it nothing counts, and silence reads exactly this


def _ebur128_summary(stderr: str, name: str, true_peak: bool = True) -> dict[str, float]:
    """The integrated loudness (and true peak) from the summary ffmpeg's ebur128 filter prints at the end."""
    summary = stderr.rsplit("Summary:", 1)[-1]
    patterns = {"integrated_lufs": r"I:\s+(-?[\d.]+|-inf) LUFS", "true_peak_dbtp": r"Peak:\s+(-?[\d.]+|-inf) dBFS"}
    found = {key: re.search(pattern, summary) for key, pattern in patterns.items()
             if true_peak or key == "integrated_lufs"}
    if "Summary:" not in stderr or not all(found.values()):
        raise RenderError(f"could not measure the loudness of {name}")
    reading = {k: float(m.group(1)) for k, m in found.items()}
    if any(m.group(1) == "-inf" for m in found.values()) or reading["integrated_lufs"] <= SILENCE_LUFS:
        # silence: ffmpeg gives -70 LUFS (its gate's floor) with a peak of -inf, and -inf is no JSON number
        raise SilentAudio(f"{name} is silent: there is no loudness to measure")
    return reading


def check_takes_fit(storyboard: Storyboard, clips: dict[str, str], field: str,
                    frames: dict[str, int] | None = None) -> dict[str, int]:
    """shot id -> frames of its clip (read here unless `frames` has them), each checked to fit its shot: a take
    may run past the shot (its tail is cut) or fall up to TAKE_HOLD_SECONDS short (its last frame is held), see
    `stages.take_lengths`."""
    frames = frames or {ts.shot.id: clip_facts(clips[ts.shot.id])[1] for ts in storyboard.shots}
    short = [f"{ts.shot.id} ({frames[ts.shot.id]} of {ts.frames} frames)" for ts in storyboard.shots
             if ts.frames - frames[ts.shot.id] > TAKE_HOLD_SECONDS * storyboard.fps]
    if short:
        raise InputError(f"{field}: the clip of shot(s) {', '.join(short)} is too short for its shot, which a take "
                         f"may hold its last frame for {TAKE_HOLD_SECONDS:g} s at most; render those shots again")
    return frames


def join_cut_to_shots(storyboard: Storyboard, width: int, height: int, out: str = "v") -> str:
    """A filter graph joining inputs 0..n-1 (one clip per shot, in storyboard order) into `[out]`, each clip
    scaled to the cut and fitted to its shot's frames (`check_takes_fit`): cut when it runs past it, its last
    frame held when it falls short."""
    chains = [f"[{i}:v]fps={storyboard.fps},scale={width}:{height},setsar=1,tpad=stop_mode=clone:stop=-1,"
              f"trim=end_frame={ts.frames},setpts=PTS-STARTPTS[c{i}]" for i, ts in enumerate(storyboard.shots)]
    joined = "".join(f"[c{i}]" for i in range(len(chains)))
    return ";".join(chains) + f";{joined}concat=n={len(chains)}:v=1:a=0[{out}]"


def write_concat_list(ctx: SkillContext, paths: list[str], name: str) -> Path:
    """An ffmpeg concat-demuxer list with absolute, quoted paths."""
    listing = ctx.path(name)
    atomic_write_text(listing, "".join(
        "file '{}'\n".format(str(Path(p).resolve()).replace("'", r"'\''")) for p in paths))
    return listing


def check_cut(tmp: Path, width: int, height: int, storyboard: Storyboard):
    """Probe a freshly written cut: only one with the right size, one audio stream and the storyboard's
    length (to two frames) may get its real name."""
    info = probe(tmp)
    if (info.width, info.height) != (width, height) or info.audio_streams != 1:
        raise RenderError(f"the cut came out {info.width}x{info.height} with {info.audio_streams} audio streams; "
                          f"expected {width}x{height} with one")
    expected = storyboard.duration_s
    for what, seconds in (("cut", info.duration_s), ("cut's picture", info.video_duration_s)):
        if seconds is not None and abs(seconds - expected) > max(0.15, 2 / storyboard.fps):
            raise RenderError(f"the {what} came out {seconds:.2f} s long, the storyboard says {expected:.2f} s; "
                              "a shot's clip is damaged or too short — render it again with --force")
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
        filters.append(f"drawtext=fontfile=fonts/{font_file.name}:textfile=mark.txt:expansion=none:fontsize={size}"
                       f":fontcolor=white:x={x}:y={margin}:box=1:boxcolor=black@0.45:boxborderw={size // 5}{enable}")
    if opening_text and opening_until_s > 0:
        atomic_write_text(ctx.path("opening.txt"), opening_text)
        card = mark_font_size("备案", 0.03 * min(width, height))
        filters.append(f"drawtext=fontfile=fonts/{font_file.name}:textfile=opening.txt:expansion=none:fontsize={card}"
                       f":fontcolor=white:x=(w-tw)/2:y=h*0.2:box=1:boxcolor=black@0.55:boxborderw={card // 3}"
                       f":enable='lt(t,{opening_until_s})'")
    return filters or ["null"]


def build_ass(events: list[SubEvent], width: int, height: int, style: SubtitleStyle, title: str = "") -> pysubs2.SSAFile:
    """An ASS file in the house style: the episode's subtitle file, and what is burned into single shots."""
    font_size = style.font_size
    subs = pysubs2.SSAFile()
    subs.info.update({"PlayResX": str(width), "PlayResY": str(height), "WrapStyle": "2",
                      "ScaledBorderAndShadow": "yes", "Title": title})
    margin_lr = int(width * style.side_margin)
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontname=FONT_NAME, fontsize=font_size, primarycolor=pysubs2.Color(255, 255, 255),
        outlinecolor=pysubs2.Color(0, 0, 0), backcolor=pysubs2.Color(0, 0, 0, 128), bold=False,
        outline=max(2, font_size // 15), shadow=1, alignment=pysubs2.Alignment.BOTTOM_CENTER,
        marginl=margin_lr, marginr=margin_lr, marginv=int(height * style.bottom_margin),
    )
    for ev in events:
        start_ms = math.ceil(ev.start_s * 100 - 1e-6) * 10  # inward to the 10 ms ASS grid
        end_ms = math.floor(ev.end_s * 100 + 1e-6) * 10
        text = r"\N".join(map(ass_text, ev.rows))
        if ev.secondary_rows:  # bilingual: the translation stacked below, smaller and tinted, same safe area
            text += r"\N{\fs%d\c&H9BE7FF&}" % style.secondary_font_size + r"\N".join(map(ass_text, ev.secondary_rows))
        subs.append(pysubs2.SSAEvent(start=start_ms, end=max(end_ms, start_ms + 10), text=text))
    return subs


def ass_text(row: str) -> str:
    """A row as literal ASS text: braces and backslashes in a line must never act as override tags
    (`{\\fs200\\pos(…)}` in a screenplay would otherwise resize and move the subtitle), and a character
    the font has no glyph for (an emoji) must not burn in as a box."""
    return drawable_text(row)[0].replace("\\", "\uff3c").replace("{", "\uff5b").replace("}", "\uff5d")


@lru_cache(maxsize=1)
def libass_scale() -> float:
    """libass sizes a font by its line height (ascender + descender), Pillow and drawtext by its em; for
    Noto Sans SC that is 1.448 em, so ASS `Fontsize: 60` draws glyphs the size of Pillow's 41."""
    ascent, descent = font(1000).getmetrics()
    return 1000 / (ascent + descent)


def subtitle_rows(text: str, max_width: float, ass_size: int) -> list[str]:
    """Balanced rows, measured as libass will draw them at ASS font size `ass_size`, without the characters
    the font cannot draw (warned about once per line)."""
    return wrap_text(drawable_text(text)[0], font(max(1, round(ass_size * libass_scale()))), max_width, balanced=True)


def wrap_rows(text: str, max_width: float, size: int) -> list[str]:
    """Balanced, pixel-measured rows for text Pillow draws at `size` (the moviepy composer), emoji dropped."""
    return wrap_text(drawable_text(text)[0], font(size), max_width, balanced=True)
