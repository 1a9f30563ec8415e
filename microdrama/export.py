"""Timeline export: a finished run as an editable timeline (OpenTimelineIO, or FCPXML for Final Cut Pro).

An editor finishing the episode by hand needs the pieces, not the burned-in cut: the clean shot clips
(no subtitles, no marks) on a video track, frame-exact to `storyboard.json`; every dubbed line on a
dialogue track at its cue time; the music beds on their own track; the subtitles as a separate file;
and markers saying where the visible AI label and the opening card (片头) must go, since the editor's
new cut must carry them again. The media is copied next to the timeline (`export/media/…`) and named
by relative path, so the folder can be zipped and handed over as it is.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from microdrama.domain import Storyboard, load_model
from microdrama.errors import InputError, MissingDependencyError
from microdrama.files import atomic_path, atomic_write_text, publish
from microdrama.media import clip_facts

Format = Literal["otio", "fcpxml"]
FORMATS: tuple[str, ...] = ("otio", "fcpxml")


@dataclass
class ExportPlan:
    """What the timeline refers to, and which file to copy where (relative to the export folder)."""

    timeline: object  # opentimelineio.schema.Timeline
    copies: dict[str, Path] = field(default_factory=dict)


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise MissingDependencyError("timeline export needs OpenTimelineIO: pip install 'microdrama[export]'") from None
    return opentimelineio


def clips_in_cut(takes: list[dict]) -> dict[str, str]:
    """shot id -> the clean clip of the take the cut uses (`in_cut`; an older manifest's 'accepted' take)."""
    chosen: dict[str, str] = {}
    for t in takes:
        if t.get("video") and (t.get("in_cut") or ("in_cut" not in t and t.get("status") == "accepted")):
            chosen.setdefault(t["shot_id"], t["video"])
    return chosen


def _accepted_clips(manifest, board: Storyboard) -> dict[str, dict]:
    """shot id -> the take record in the cut (its clean clip in the store), from the manifest's take log."""
    log = (manifest.takes or {}).get("takes", [])
    chosen = clips_in_cut(log)
    takes = {t["shot_id"]: t for t in log if chosen.get(t["shot_id"]) == t.get("video")}
    for ts in board.shots:
        take = takes.get(ts.shot.id)
        if take is None:
            raise InputError(f"manifest.json takes: no take of shot {ts.shot.id} is in the cut; render the episode "
                             "again with this version so the manifest records each shot's clean clip")
        if not Path(take["video"]).is_file():
            raise InputError(f"shot {ts.shot.id}: its clean clip {take['video']} is no longer in the store "
                             "(was out/.store cleaned?); render the episode again to restore it, then export")
    return takes


def _wav_seconds(path: Path) -> tuple[float, int]:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate(), w.getframerate()


def _lanes(spans: list[tuple[float, float, object]]) -> list[list[tuple[float, float, object]]]:
    """Spread overlapping spans over as few tracks as needed (first lane free at the span's start)."""
    lanes: list[list] = []
    for span in sorted(spans, key=lambda s: s[0]):
        lane = next((ln for ln in lanes if ln[-1][1] <= span[0] + 1e-6), None)
        (lane.append(span) if lane is not None else lanes.append([span]))
    return lanes


def plan_export(run_dir: Path) -> ExportPlan:
    """The timeline of a finished run folder, with relative media paths, and the copies it needs."""
    from microdrama.run import OPENING_SECONDS, Manifest, opening_text

    otio = _otio()
    run_dir = Path(run_dir)
    manifest = Manifest.read(run_dir)  # refuses a folder without a complete manifest
    board_path = run_dir / "storyboard.json"
    if not board_path.is_file():
        raise InputError(f"{run_dir}: no storyboard.json — is it a finished run folder (out/<run>)?")
    board = load_model(Storyboard, board_path)
    fps, config = board.fps, manifest.config
    takes = _accepted_clips(manifest, board)

    def t(seconds: float, rate: float = fps):
        return otio.opentime.RationalTime(round(seconds * rate), rate)

    copies: dict[str, Path] = {}
    timeline = otio.schema.Timeline(name=f"{manifest.run_id} · {board.title}")
    timeline.global_start_time = otio.opentime.RationalTime(0, fps)

    video = otio.schema.Track(name="V1 shots (clean)", kind=otio.schema.TrackKind.Video)
    for ts in board.shots:
        rel = f"media/shots/{ts.shot.id}.mp4"
        copies[rel] = Path(takes[ts.shot.id]["video"])
        # A take may run past its shot (its tail is left out) or fall short (its last frame is held).
        have = clip_facts(copies[rel])[1]

        def span(start: int, frames: int):
            return otio.opentime.TimeRange(otio.opentime.RationalTime(start, fps), otio.opentime.RationalTime(frames, fps))

        def shot_clip(name: str, source_range, **extra):
            return otio.schema.Clip(
                name=name, source_range=source_range,
                media_reference=otio.schema.ExternalReference(target_url=rel, available_range=span(0, have)),
                metadata={"microdrama": {
                    "scene": ts.scene_id, "location": ts.location, "shot_size": ts.shot.shot_size.value,
                    "camera_move": ts.shot.camera_move.value, "prompt": ts.shot.visual_prompt,
                    "take": takes[ts.shot.id]["take"], "source": takes[ts.shot.id].get("source"), **extra}})

        video.append(shot_clip(ts.shot.id, span(0, min(have, ts.frames))))
        if have < ts.frames:
            held = shot_clip(f"{ts.shot.id} (held)", span(have - 1, ts.frames - have),
                             fit=takes[ts.shot.id].get("fit", "last frame held"))
            held.effects.append(otio.schema.FreezeFrame())
            video.append(held)

    def audio_track(name: str, spans: list[tuple[float, float, object]]):
        track, cursor = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio), 0.0
        for start, end, clip in spans:
            if start > cursor:
                track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(0, clip.rate), t(start - cursor, clip.rate))))
            track.append(clip.clip)
            cursor = end
        return track

    @dataclass
    class _Placed:
        clip: object
        rate: int

    dialogue = []
    for cue in board.cues():
        src = run_dir / "audio" / f"{cue.line_id}.wav"
        if not src.is_file():
            raise InputError(f"{src}: the dubbed line {cue.line_id} is missing; render the episode again")
        seconds, rate = _wav_seconds(src)
        rel = f"media/audio/{cue.line_id}.wav"
        copies[rel] = src
        clip = otio.schema.Clip(
            name=cue.line_id, source_range=otio.opentime.TimeRange(t(0, rate), t(cue.end_s - cue.start_s, rate)),
            media_reference=otio.schema.ExternalReference(
                target_url=rel, available_range=otio.opentime.TimeRange(t(0, rate), t(seconds, rate))),
            metadata={"microdrama": {"speaker": cue.speaker, "text": cue.text, "emotion": cue.emotion.value,
                                     "start_s": cue.start_s, "end_s": cue.end_s}})
        dialogue.append((cue.start_s, cue.end_s, _Placed(clip, rate)))
    music = []
    for i, bed in enumerate(manifest.music):
        src = Path(bed["file"])
        if not src.is_file():
            raise InputError(f"music[{i}]: {src} is gone; put the licensed file back (sha256 {bed['sha256'][:12]}…)")
        rel = f"media/music/{i + 1:02d}-{src.name}"
        copies[rel] = src
        rate = 48000
        clip = otio.schema.Clip(
            name=src.stem, source_range=otio.opentime.TimeRange(t(0, rate), t(bed["end_s"] - bed["start_s"], rate)),
            media_reference=otio.schema.ExternalReference(target_url=rel),
            metadata={"microdrama": {k: bed[k] for k in ("licence", "gain_db", "duck_db", "sha256") if k in bed}})
        music.append((bed["start_s"], bed["end_s"], _Placed(clip, rate)))

    tracks = [video]
    lanes = _lanes(dialogue)
    tracks += [audio_track(f"A{i + 1} dialogue", lane) for i, lane in enumerate(lanes)]
    tracks += [audio_track(f"A{len(lanes) + i + 1} music", lane) for i, lane in enumerate(_lanes(music))]
    timeline.tracks.extend(tracks)

    total = otio.opentime.RationalTime(sum(ts.frames for ts in board.shots), fps)
    mark = config.mark
    mark_len = total if mark.seconds is None else min(total, otio.opentime.RationalTime(round(mark.seconds * fps), fps))
    timeline.tracks.markers.append(otio.schema.Marker(
        name=f"AI label: {mark.text}", color=otio.schema.MarkerColor.RED,
        marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), mark_len),
        metadata={"microdrama": {"label": "visible AI mark (GB 45438-2025 §5.4)", "text": mark.text,
                                 "position": mark.position, "height_fraction": mark.height_fraction}}))
    opening = opening_text(config, board.language)
    if opening:
        card = min(total, otio.opentime.RationalTime(round(OPENING_SECONDS * fps), fps))
        timeline.tracks.markers.append(otio.schema.Marker(
            name=f"opening card: {opening}", color=otio.schema.MarkerColor.YELLOW,
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), card),
            metadata={"microdrama": {"label": "opening card (片头)", "text": opening}}))
    subtitles = [name for name in ("episode.srt", "episode.ass") if (run_dir / name).is_file()]
    for name in subtitles:
        copies[name] = run_dir / name
    timeline.metadata["microdrama"] = {
        "run_id": manifest.run_id, "fps": fps, "frames": total.value, "subtitles": subtitles,
        "width": config.render.width, "height": config.render.height,
        "note": "clean clips without burned subtitles or marks: the finished cut must carry the AI label "
                "and the opening card again (see the markers), and be labelled with `microdrama label`"}
    return ExportPlan(timeline, copies)


def export_run(run_dir: Path, fmt: Format = "otio", out_dir: Path | None = None) -> Path:
    """Write the run's timeline as `episode.otio` or `episode.fcpxml` in `out_dir` (default RUN_DIR/export),
    with its media copied under `media/`; returns the timeline file."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    otio = _otio()
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "export"
    plan = plan_export(run_dir)
    for rel, src in plan.copies.items():
        publish(src, out_dir / rel)
    target = out_dir / f"episode.{fmt}"
    timeline = plan.timeline
    if fmt == "fcpxml":
        text = fcpxml(timeline, out_dir)
    else:
        text = otio.adapters.write_to_string(timeline, adapter_name="otio_json")
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    _write_readme(out_dir, fmt, plan)
    return target


def _write_readme(out_dir: Path, fmt: str, plan: ExportPlan) -> None:
    """A short note beside the timeline: what is in the folder and what the editor must keep."""
    meta = plan.timeline.metadata["microdrama"]
    atomic_write_text(out_dir / "README.txt", (
        f"Timeline export of run {meta['run_id']} ({fmt}), {meta['width']}x{meta['height']} at {meta['fps']} fps, "
        f"{meta['frames']} frames.\n"
        "media/shots: clean shot clips (no subtitles, no marks); media/audio: one WAV per dubbed line;\n"
        "media/music: the licensed beds; episode.srt / episode.ass: the subtitles, to import as captions.\n"
        f"Markers: {', '.join(m.name for m in plan.timeline.tracks.markers)}.\n"
        "The finished cut must show the AI label again and be labelled in its metadata (microdrama label).\n"
        f"Media files: {json.dumps(sorted(plan.copies), ensure_ascii=False)}\n"))


def _rt(t) -> str:
    """An OTIO time as an FCPXML rational number of seconds ('13/5s')."""
    from fractions import Fraction

    value = Fraction(round(t.value), 1) / Fraction(t.rate).limit_denominator(1001)
    if value.denominator == 1:
        return f"{value.numerator}s"
    return f"{value.numerator}/{value.denominator}s"


def fcpxml(timeline, out_dir: Path) -> str:
    """The OTIO timeline as FCPXML 1.9, written here with ElementTree: the OTIO FCPX adapter accepts only
    broadcast frame rates and shells out to ffprobe. Shots form the spine; dialogue and music are connected
    clips on lanes below it; the AI-label and opening-card markers sit on the first shot. Final Cut Pro finds
    media by absolute file URL only, so the export folder's media are named by their path on this machine."""
    import xml.etree.ElementTree as ET

    otio = _otio()
    meta = timeline.metadata["microdrama"]
    fps = meta["fps"]
    root = ET.Element("fcpxml", version="1.9")
    resources = ET.SubElement(root, "resources")
    ET.SubElement(resources, "format", id="r0", name=f"FFVideoFormat{meta['height']}p{fps}",
                  frameDuration=f"1/{fps}s", width=str(meta["width"]), height=str(meta["height"]))
    assets: dict[str, str] = {}

    def asset(clip, video: bool) -> str:
        url = clip.media_reference.target_url
        if url not in assets:
            assets[url] = f"r{len(assets) + 1}"
            available = clip.media_reference.available_range or clip.source_range
            attrs = {"id": assets[url], "name": clip.name, "start": "0s", "duration": _rt(available.duration),
                     "hasAudio": "0" if video else "1", "hasVideo": "1" if video else "0"}
            if video:
                attrs["format"] = "r0"
            node = ET.SubElement(resources, "asset", attrs)
            ET.SubElement(node, "media-rep", kind="original-media", src=(out_dir / url).resolve().as_uri())
        return assets[url]

    library = ET.SubElement(root, "library")
    event = ET.SubElement(library, "event", name="microdrama")
    project = ET.SubElement(event, "project", name=timeline.name)
    video, *audio = list(timeline.tracks)
    sequence = ET.SubElement(project, "sequence", format="r0", duration=_rt(video.duration()), tcStart="0s",
                             tcFormat="NDF", audioLayout="stereo", audioRate="48k")
    spine = ET.SubElement(sequence, "spine")
    shots = []
    for clip in video.find_clips():
        placed = clip.range_in_parent()
        start = _rt(clip.source_range.start_time)
        node = ET.SubElement(spine, "asset-clip", ref=asset(clip, True), name=clip.name, offset=_rt(placed.start_time),
                             start=start, duration=_rt(placed.duration), format="r0", tcFormat="NDF")
        if any(isinstance(e, otio.schema.FreezeFrame) for e in clip.effects):  # a take's last frame, held
            time_map = ET.SubElement(node, "timeMap")
            for at in ("0s", _rt(placed.duration)):
                ET.SubElement(time_map, "timept", time=at, value=start, interp="linear")
        if clip.source_range.start_time.value == 0:
            shots.append((placed, node))
    for marker in timeline.tracks.markers:
        first_range, first = shots[0]
        length = min(marker.marked_range.duration, first_range.duration)
        ET.SubElement(first, "marker", start="0s", duration=_rt(length), value=marker.name,
                      note=f"applies from 0 for {_rt(marker.marked_range.duration)}")
    for lane, track in enumerate(audio, 1):
        role = "music" if track.name.endswith("music") else "dialogue"
        for clip in track.find_clips():
            placed = clip.range_in_parent()
            start_s = placed.start_time.to_seconds()
            parent_range, parent = next(((r, n) for r, n in reversed(shots) if r.start_time.to_seconds() <= start_s + 1e-9),
                                        shots[0])
            offset = placed.start_time - parent_range.start_time.rescaled_to(placed.start_time.rate)
            ET.SubElement(parent, "asset-clip", ref=asset(clip, False), name=clip.name, lane=str(-lane),
                          offset=_rt(offset), start="0s", duration=_rt(placed.duration), audioRole=role)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + ET.tostring(root, encoding="unicode") + "\n"
