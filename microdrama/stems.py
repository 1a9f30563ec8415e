"""Stems: the cut taken apart again, for a person who finishes or localises it elsewhere.

`OUT/<run>/stems/` holds the clean picture (every shot's clean clip joined, no subtitles, no marks),
the dialogue, the music (when there is a bed) and the mix the cut carries, each as long as the
storyboard. A dubbing house replaces `dialogue.wav` under `music.wav`; a platform that burns its own
captions takes `picture.mp4`. The stems are AI-generated content like the cut, so each carries the
TC260 metadata (when labels are on) and is read back by the label check; the clean picture has no
visible mark by design — whoever finishes it must draw the mark again (the README says so).

The audio comes from finishing.py's own mixing parts, so a stem is exactly what went into the cut:
`dialogue.wav` and `music.wav` at the levels they were summed at (before the loudness stage), and
`mix.wav` the mastered mix itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from microdrama.domain import Storyboard
from microdrama.errors import InputError, RenderError
from microdrama.files import atomic_path, atomic_write_text, publish
from microdrama.finishing import check_takes_fit, join_cut_to_shots
from microdrama.media import clip_facts
from microdrama.stages import MusicBed

STEM_NAMES = ("picture.mp4", "dialogue.wav", "music.wav", "mix.wav")


def join_picture(board: Storyboard, clips: dict[str, str], out: Path, encode, clip_encode=None) -> str:
    """The clean clips in storyboard order as one silent MP4 of exactly the storyboard's frames, each take fitted
    to its shot (`finishing.check_takes_fit`). Stream copy (concat demuxer) when every clip shares one encode
    spec at the delivery size and rate: a take running past its shot is cut by dropping its tail packets (exact
    only without B-frames, which the visuals stage's clips have none of), and one falling short is followed by
    its last frame held, encoded alone at `clip_encode` (the clips' own settings, so its headers match, checked).
    Otherwise one re-encode to `encode`. Returns 'copy' or 're-encoded'."""
    from microdrama.media import run_ffmpeg

    missing = [ts.shot.id for ts in board.shots if not Path(clips.get(ts.shot.id, "")).is_file()]
    if missing:
        raise InputError(f"stems: no clean clip in the store for shot(s) {', '.join(missing)} (was out/.store "
                         "cleaned?); render the episode again, or set render.stems: false")
    paths = [str(Path(clips[ts.shot.id]).resolve()) for ts in board.shots]
    facts = [clip_facts(p) for p in paths]
    check_takes_fit(board, clips, "stems", {ts.shot.id: n for (_, n), ts in zip(facts, board.shots)})
    spec = facts[0][0]
    total = sum(ts.frames for ts in board.shots)
    scratch = out.parent / f".{out.stem}.parts"
    try:
        entries = None
        if (all(f[0] == spec for f in facts) and (spec.width, spec.height) == (encode.width, encode.height)
                and abs(spec.fps - encode.fps) < 1e-3 and spec.codec == "h264"
                and not any(n > ts.frames and f.reorders for (f, n), ts in zip(facts, board.shots))):
            entries = _copy_entries(board, paths, facts, spec, scratch, clip_encode)
        with atomic_path(out) as tmp:
            if entries is not None:
                listing = scratch / "concat.txt"
                atomic_write_text(listing, "".join(entries))
                # auto_convert 0: the clips share their headers (checked), so packets pass through byte for byte
                run_ffmpeg(["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", listing, "-map", "0:v",
                            "-c", "copy", "-movflags", "+faststart", tmp], what="joining the clean picture")
            else:
                graph = join_cut_to_shots(board, encode.width, encode.height, "joined") + ";[joined]format=yuv420p[v]"
                run_ffmpeg([arg for p in paths for arg in ("-i", p)] + [
                    "-filter_complex", graph, "-map", "[v]", "-frames:v", str(total), "-c:v", "libx264",
                    "-preset", encode.preset, "-crf", str(encode.crf), "-pix_fmt", "yuv420p", "-an",
                    "-movflags", "+faststart", tmp], what="re-encoding the clean picture")
            got_spec, got = clip_facts(tmp)
            if got != total or (got_spec.width, got_spec.height) != (encode.width, encode.height):
                raise RenderError(f"the clean picture came out {got_spec.width}x{got_spec.height} with {got} frames; "
                                  f"expected {encode.width}x{encode.height} with {total}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return "copy" if entries is not None else "re-encoded"


def _copy_entries(board: Storyboard, paths: list[str], facts: list, spec, scratch: Path,
                  clip_encode) -> list[str] | None:
    """Concat-list entries joining the clips by copy, each fitted to its shot; None when a held last frame
    cannot be encoded to match the clips' headers (then the picture is re-encoded)."""
    from microdrama.media import run_ffmpeg

    entries = []
    for path, (_, n), ts in zip(paths, facts, board.shots):
        entries.append("file '{}'\n".format(path.replace("'", r"'\''")) + (_outpoint(ts.frames, board.fps)
                                                                          if n > ts.frames else ""))
        if n < ts.frames:
            if clip_encode is None:
                return None
            scratch.mkdir(exist_ok=True)
            hold = scratch / f"{ts.shot.id}.hold.mp4"
            run_ffmpeg(["-sseof", "-0.5", "-i", path, "-filter_complex",
                        f"[0:v]reverse,trim=end_frame=1,setpts=PTS-STARTPTS,loop=loop={ts.frames - n - 1}:size=1,"
                        f"setpts=N/({board.fps}*TB),format=yuv420p[v]", "-map", "[v]", "-frames:v", str(ts.frames - n),
                        "-r", str(board.fps), "-c:v", "libx264", "-preset", clip_encode.preset, "-crf",
                        str(clip_encode.crf), "-pix_fmt", "yuv420p", "-an", hold], what=f"holding shot {ts.shot.id}")
            if clip_facts(hold) != (spec, ts.frames - n):
                return None
            entries.append("file '{}'\n".format(str(hold.resolve()).replace("'", r"'\''")))
    return entries


def _outpoint(frames: int, fps: int) -> str:
    """A concat-list `outpoint` that ends a clip after `frames` frames: their time floored to the microsecond the
    demuxer reads, so the next frame's packet (at or past it) is dropped and the next clip starts on time."""
    us = frames * 1_000_000 // fps
    return f"outpoint {us // 1_000_000}.{us % 1_000_000:06d}\n"


def write_stems(run_dir: Path, storyboard: Storyboard, clips: dict[str, str], line_audio: dict[str, str],
                music: list[MusicBed], config, *, mix: str | Path | None = None, run_id: str = "",
                title: str = "", folder: Path | None = None) -> list[Path]:
    """`stems/picture.mp4`, `dialogue.wav`, `music.wav` (with a bed) and `mix.wav` in `run_dir` (or in `folder`),
    labelled and checked; nothing when `config.render.stems` is off. `clips`: shot id -> clean clip
    (export.clips_in_cut); `mix`: the cut's own mastered mix (the mix stage's WAV) — mixed again here only when
    it is gone."""
    from microdrama.finishing import MIX_RATE, dialogue_track, master_mix, music_track
    from microdrama.speech import write_wav

    if not config.render.stems:
        return []
    folder = Path(folder or Path(run_dir) / "stems")
    folder.mkdir(parents=True, exist_ok=True)
    for cue in storyboard.cues():
        if not Path(line_audio.get(cue.line_id, "")).is_file():
            raise InputError(f"line_audio[{cue.line_id}]: missing WAV for {cue.text!r}; run dubbing first")
    written: list[Path] = []
    if clips:  # a run that recorded no takes (a cut made elsewhere) has no clean picture to join
        join_picture(storyboard, clips, folder / "picture.mp4", config.render.final_encode(),
                     config.render.clip_encode())
        written.append(folder / "picture.mp4")
    voices = dialogue_track(storyboard, line_audio, config.mark.audio)
    write_wav(folder / "dialogue.wav", np.clip(voices, -32768, 32767), MIX_RATE)
    written.append(folder / "dialogue.wav")
    beds = np.zeros_like(voices)
    for bed in music:
        beds += music_track(bed, storyboard, beds.size)
    if music:
        write_wav(folder / "music.wav", np.clip(beds, -32768, 32767), MIX_RATE)
        written.append(folder / "music.wav")
    if mix is not None and Path(mix).is_file():
        publish(mix, folder / "mix.wav")
    else:
        master_mix(voices + beds, folder / "mix.wav", config.render.loudness)
    written.append(folder / "mix.wav")
    for stale in (folder / name for name in STEM_NAMES):  # an earlier run's music.wav after the bed was removed
        if stale not in written:
            stale.unlink(missing_ok=True)
    if config.labels.enabled:
        label_stems(written, config.labels, run_id or Path(run_dir).name, title)
    _write_readme(folder, written, config)
    return written


def label_stems(paths: list[Path], labels, run_id: str, title: str = "") -> list[dict]:
    """TC260 metadata (and C2PA when configured) on every stem, read back; the clean picture is checked
    without the visible-mark clause (it has none by design)."""
    from microdrama.labels.apply import label_and_check

    reports = label_and_check(paths, labels, lambda path: f"{run_id}-stem-{path.stem}", title, visible=False)
    for path, report in zip(paths, reports):
        if not report.ok:
            failed = ", ".join(c.clause for c in report.clauses if not c.ok)
            raise RenderError(f"label check failed for stems/{path.name}: {failed}")
    return [r.as_dict() for r in reports]


def _write_readme(folder: Path, written: list[Path], config) -> None:
    names = [p.name for p in written]
    atomic_write_text(folder / "README.txt", (
        f"Stems of this run: {', '.join(names)}. All are exactly as long as the cut ({config.render.fps} fps; "
        "audio 48 kHz mono 16-bit).\n"
        "picture.mp4: the shots joined without subtitles, the AI mark or the opening card. A cut made from it must "
        f"show the visible AI label ('{config.mark.text}', ≥ 5% of the shorter side) and the opening card again, "
        "and be labelled (microdrama label apply).\n"
        "dialogue.wav, music.wav: the voices (with the audio AI rhythm when configured) and the ducked beds, at the "
        "levels they were summed at; mix.wav: the mastered mix the cut carries.\n"
        + ("Every stem carries the TC260 AIGC metadata, read back when it was written (picture.mp4 without the "
           "visible-mark clause: it has no mark by design).\n"
           if config.labels.enabled else "Labels are off in this project's config: the stems carry no metadata.\n")))
