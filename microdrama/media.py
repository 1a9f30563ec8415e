"""Media tools that ship as wheels: ffmpeg (imageio-ffmpeg), Noto Sans SC, and probing via PyAV.

No system package is needed: `pip install microdrama` brings everything the CPU demo uses.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from microdrama.errors import RenderError
from microdrama.processes import dies_with_parent


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    """Noto Sans SC (SIL OFL 1.1), shipped by the `pylopdf-fonts-zh-cn` wheel."""
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.sans_path())


def run_ffmpeg(args: Sequence[str | Path], *, cwd: Path | None = None, what: str = "ffmpeg") -> None:
    """Run ffmpeg quietly; on failure raise RenderError with the last lines ffmpeg printed."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *map(str, args)]
    proc = subprocess.run(dies_with_parent(cmd), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise RenderError(f"{what} failed (ffmpeg exit {proc.returncode}):\n{tail}")


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
        )
