"""Media tools that ship as wheels: ffmpeg (imageio-ffmpeg), Noto Sans SC, and probing via PyAV.

No system package is needed: `pip install microdrama` brings everything the CPU demo uses.
"""

from __future__ import annotations

import os
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from microdrama.errors import RenderError
from microdrama.processes import dies_with_parent


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


_shot_encodes = 0  # per-shot encodes running in this process now
_shot_encodes_lock = threading.Lock()


@lru_cache(maxsize=1)
def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def x264_threads() -> str:
    """x264's threads for a per-shot encode: one per core. Fixed per machine, because x264's output depends on its
    thread count and a resumed run must give the same cut (ffmpeg's default, 1.5 per core, is fixed too, but an
    edit's lone finish beside the mix ended sooner with one per core: 2.39 s against 2.60 s on 2 cores)."""
    return str(usable_cores())


@contextmanager
def shot_encode() -> Iterator[str]:
    """Hold a per-shot encode's place; yields the `-threads` value for its decoder and filters (which do not change
    the output): the cores shared by the encodes running now, itself included. ffmpeg's default gives each all the
    cores, which only adds switching when shots are encoded side by side: on 2 cores, two finishes at once took
    3.3 s with ffmpeg's defaults and 3.0 s with one decoder and filter thread each (median of 3). Pair it with
    `x264_threads`."""
    global _shot_encodes
    with _shot_encodes_lock:
        _shot_encodes += 1
        threads = max(1, usable_cores() // _shot_encodes)
    try:
        yield str(threads)
    finally:
        with _shot_encodes_lock:
            _shot_encodes -= 1


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    """Noto Sans SC (SIL OFL 1.1), shipped by the `pylopdf-fonts-zh-cn` wheel."""
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.sans_path())


def run_ffmpeg(args: Sequence[str | Path], *, cwd: Path | None = None, what: str = "ffmpeg",
               loglevel: str = "error") -> str:
    """Run ffmpeg quietly; on failure raise RenderError with the last lines ffmpeg printed. Returns what it
    printed (at `loglevel`: 'info' keeps a filter's report, such as ebur128's summary)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-y", "-loglevel", loglevel, *map(str, args)]
    proc = subprocess.run(dies_with_parent(cmd), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise RenderError(f"{what} failed (ffmpeg exit {proc.returncode}):\n{tail}")
    return proc.stderr


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    width: int | None
    height: int | None
    fps: float | None
    video_streams: int
    audio_streams: int
    video_codec: str | None
    audio_codec: str | None
    video_duration_s: float | None = None  # the picture's own length (the container's is its longest stream's)


@dataclass(frozen=True)
class ClipSpec:
    """What must match for clips to be joined by stream copy (the concat demuxer keeps the first's headers)."""

    codec: str
    width: int
    height: int
    pix_fmt: str
    fps: float
    extradata: bytes
    reorders: bool  # B-frames: packets out of display order, so a clip cannot be cut by dropping its tail packets


def clip_facts(path: str | Path) -> tuple[ClipSpec, int]:
    """(encode spec, frame count) of a clip's first video stream, read by PyAV without decoding."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise RenderError(f"{path}: no video stream; render the shot again")
        v = container.streams.video[0]
        cc = v.codec_context
        frames = v.frames or sum(1 for p in container.demux(v) if p.size)
        return ClipSpec(cc.name, cc.width, cc.height, str(cc.pix_fmt), float(v.average_rate or 0),
                        bytes(cc.extradata or b""), bool(cc.has_b_frames)), frames


def probe(path: str | Path) -> MediaInfo:
    """Read container and stream facts with PyAV (an independent reader of what ffmpeg wrote)."""
    import av

    with av.open(str(path)) as container:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        duration = (container.duration or 0) / 1_000_000
        return MediaInfo(
            duration_s=duration,
            width=v.codec_context.width if v else None,
            height=v.codec_context.height if v else None,
            fps=float(v.average_rate) if v and v.average_rate else None,
            video_streams=len(container.streams.video),
            audio_streams=len(container.streams.audio),
            video_codec=v.codec_context.name if v else None,
            audio_codec=a.codec_context.name if a else None,
            video_duration_s=float(v.duration * v.time_base) if v and v.duration else None,
        )


MAX_STRETCH = 1.1  # beyond this a clip visibly turns to slow motion

# Measured on a 5 s, 480x832, 16 fps clip to 30 fps (one CPU core, ffmpeg 7): mci+aobmc 217 s, mci+obmc 17 s,
# blend 0.6 s. aobmc is not worth 12x; obmc gives real in-between motion, blend a cross-fade (cheap, for CI).
INTERPOLATION = {
    "mci": "minterpolate=fps={fps}:mi_mode=mci:mc_mode=obmc:me_mode=bidir:scd=none",
    "blend": "minterpolate=fps={fps}:mi_mode=blend:scd=none",
}


def retime_filter(src_fps: float, fps: int, stretch: float = 1.0, mode: str = "mci") -> str:
    """Filters that bring a clip at `src_fps` to `fps`, slowed by `stretch` (at most MAX_STRETCH).

    Raising the rate interpolates motion instead of repeating frames: a 16 fps clip delivered at 30 fps by
    `fps=30` repeats 14 of every 30 frames, which shows as judder. Scene-change detection is off: a shot has no
    cuts, and a detected "scene change" makes minterpolate repeat frames again. Lowering the rate drops frames.
    """
    if not 1.0 <= stretch <= MAX_STRETCH + 1e-9:
        raise ValueError(f"stretch {stretch:.3f} is outside 1..{MAX_STRETCH} (more reads as slow motion)")
    if mode not in INTERPOLATION:
        raise ValueError(f"interpolation '{mode}' is not one of {', '.join(INTERPOLATION)}")
    effective = src_fps / stretch
    chain = [f"setpts={stretch:.6f}*PTS"] if stretch > 1.0 else []
    if fps > effective + 1e-6:
        chain.append(INTERPOLATION[mode].format(fps=fps))
    else:
        chain.append(f"fps={fps}")
    return ",".join(chain)


def fit_frames(video, src_fps: float, out: Path, *, width: int, height: int, fps: int, frames: int,
               stretch: float = 1.0, crf: int = 18, preset: str = "veryfast", mode: str = "mci",
               cwd: Path | None = None, what: str = "fit frames") -> Path:
    """RGB frames (n, h, w, 3 uint8) -> an H.264 clip of exactly `frames` frames at the delivery size and rate.

    Retimed and interpolated at the generated size (cheaper than at the delivery size), then scaled to fill
    the frame and centre-cropped. A last short hold covers rounding only; callers ask for enough frames.
    """
    import numpy as np

    video = np.ascontiguousarray(video, dtype=np.uint8)
    n, h, w = video.shape[:3]
    raw = out.with_name(out.name + ".rgb")
    raw.write_bytes(video.tobytes())
    retime = retime_filter(src_fps, fps, stretch, mode)
    fill = (f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=lanczos,crop={width}:{height},"
            "setsar=1")
    # minterpolate's 16-pixel blocks need frames of at least 32 pixels a side: fill the frame first then.
    chain = f"{retime},{fill}" if min(w, h) >= 32 else f"{fill},{retime}"
    try:
        run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{src_fps:g}", "-i", raw,
                    "-vf", f"{chain},tpad=stop_mode=clone:stop_duration={2 / fps:.4f},format=yuv420p",
                    "-frames:v", str(frames), "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-an", out],
                   cwd=cwd, what=what)
    finally:
        raw.unlink(missing_ok=True)
    return out


_frames: dict[tuple, object] = {}  # (path, size, mtime, position) -> PIL image
_frames_lock = threading.Lock()
FRAMES_KEPT = 64


def frame_at(path: str | Path, at_s: float | None = None):
    """One decoded frame as an RGB PIL image: the first at or after `at_s`, the middle frame when None, the last
    if the clip is shorter. Decoding to the middle of a 1080×1920 shot costs about a second, and the consistency
    score and the covers ask again on every re-render, so a warm process (the studio) keeps recent frames,
    keyed by the file's path, size and modification time (a store file never changes in place)."""
    import av

    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, at_s)
    with _frames_lock:
        if key in _frames:
            return _frames[key].copy()
    last = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        middle = (stream.frames or 1) // 2
        for i, frame in enumerate(container.decode(stream)):
            last = frame
            if at_s is None and i >= middle:
                break
            if at_s is not None and frame.pts is not None and float(frame.pts * stream.time_base) + 1e-3 >= at_s:
                break
    if last is None:
        raise RenderError(f"{path}: no video frame to decode")
    image = last.to_image().convert("RGB")
    with _frames_lock:
        _frames[key] = image
        while len(_frames) > FRAMES_KEPT:
            _frames.pop(next(iter(_frames)))
    return image.copy()
