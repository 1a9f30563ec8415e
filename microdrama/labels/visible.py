"""Measure the visible AI label on decoded frames (GB 45438-2025 §5.4).

The checker does not trust the renderer's settings: it decodes the first seconds of the video
and finds the tallest band of bright text rows in the top corners, where labels are placed
clear of subtitles. A band's height is the ink height of the label text, which must be at least
5% of the frame's shorter side from the first frame for at least 2 seconds.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from microdrama.domain import Strict

BRIGHT = 235  # luma of label text (white on a dark box)
TOP_BAND = 0.15  # labels live in the top 15% of the frame...
CORNER = 0.45  # ...in the left or right 45%
MAX_GAP_ROWS = 3


class AiMark(Strict):
    """The visible AIGC mark a renderer draws (GB 45438-2025 §5.4: text height >= 5% of the shorter side)."""

    text: str = Field("AI生成", min_length=1, description="the label text, e.g. 'AI生成' or '本视频由AI生成'")
    height_fraction: float = Field(
        0.055, ge=0.05, le=0.2, description="ink height of the text / shorter side of the frame; at least 0.05"
    )
    position: Literal["top_left", "top_right"] = Field("top_right", description="top_left or top_right")
    seconds: float | None = Field(None, gt=2, description="show only for the first N (>2) seconds; None = whole video")
    audio: Literal["none", "morse"] = Field(
        "none", description="§5.3 audio label: 'morse' plays the short-long-short-short rhythm (Morse 'AI') at the start"
    )


@dataclass(frozen=True)
class LabelSample:
    t: float
    height_px: int


def text_band_height(gray: np.ndarray) -> int:
    """Tallest run of rows holding bright text in either top corner of a luma frame."""
    h, w = gray.shape
    band = gray[: int(h * TOP_BAND)]
    best = 0
    for region in (band[:, : int(w * CORNER)], band[:, w - int(w * CORNER):]):
        bright = (region >= BRIGHT).sum(axis=1)
        rows = (bright >= 2) & (bright <= 0.6 * region.shape[1])  # a white sky is not a label
        run = gap = 0
        for has_ink in rows:
            if has_ink:
                run += gap + 1
                gap = 0
            elif run:
                gap += 1
                if gap > MAX_GAP_ROWS:
                    best, run, gap = max(best, run), 0, 0
        best = max(best, run)
    return best


_measured: dict[tuple, tuple[list[LabelSample], int]] = {}
_measured_lock = threading.Lock()
MEASURED_KEPT = 64


def measure(path: str | Path, until_s: float = 2.0, step_s: float = 0.5) -> tuple[list[LabelSample], int]:
    """Label heights at 0, step, 2*step … until_s, and the frame's shorter side.

    Decoding is deterministic, so the reading is kept per process by the hash of the packets it decodes from:
    a re-cut whose opening shot did not change (most edits in the studio) is not decoded again."""
    key = (_opening_packets_hash(path, until_s + 0.5), until_s, step_s)
    with _measured_lock:
        if key in _measured:
            return _measured[key]
    result = _decode_and_measure(path, until_s, step_s)
    with _measured_lock:
        _measured[key] = result
        while len(_measured) > MEASURED_KEPT:
            _measured.pop(next(iter(_measured)))
    return result


def _opening_packets_hash(path: str | Path, until_s: float) -> str:
    """The hash of the video stream's set-up and of every packet decoded before `until_s` (a frame shown by then
    is decoded from packets whose decode time is no later than its presentation time)."""
    import av

    h = hashlib.sha256()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        h.update(f"{ctx.name}|{ctx.width}x{ctx.height}|{ctx.pix_fmt}|{stream.time_base}|".encode())
        h.update(bytes(ctx.extradata or b""))
        for packet in container.demux(stream):
            if packet.dts is not None and float(packet.dts * stream.time_base) > until_s:
                break
            h.update(f"|{packet.pts}|{packet.dts}|{int(packet.is_keyframe)}|".encode())
            h.update(bytes(packet))
    return h.hexdigest()


def _decode_and_measure(path: str | Path, until_s: float, step_s: float) -> tuple[list[LabelSample], int]:
    import av

    wanted = [round(i * step_s, 3) for i in range(int(until_s / step_s) + 1)]
    samples: list[LabelSample] = []
    shorter = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            if wanted and t + 1e-3 >= wanted[0]:
                gray = frame.to_ndarray(format="gray")
                shorter = min(gray.shape)
                samples.append(LabelSample(wanted.pop(0), text_band_height(gray)))
            if not wanted:
                break
    return samples, shorter
