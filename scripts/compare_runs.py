"""Compare two run folders: is the content the same, ignoring what differs on every run?

    python scripts/compare_runs.py out-before/demo out-after/demo

Text files (screenplay, storyboard, subtitles) must be byte-identical. Labelled files carry a
per-run content ID in their metadata, so WAVs are compared by their samples and PNGs by their
pixels. Two clean renders of the same cut differ by a few encoder bytes, so the videos are
compared by decoded frames: the same frame count and every frame's PSNR at least --min-psnr.
Exit 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys
import wave
from pathlib import Path

import numpy as np

TEXT = ["screenplay.yaml", "screenplay.json", "storyboard.json", "storyboard.html", "episode.srt", "episode.ass"]


def samples(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.readframes(w.getnframes())


def pixels(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def frames(path: Path):
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24").astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def compare(before: Path, after: Path, min_psnr: float) -> list[str]:
    problems = []
    for name in TEXT:
        if (before / name).read_bytes() != (after / name).read_bytes():
            problems.append(f"{name}: bytes differ")
    wavs = sorted(p.name for p in (before / "audio").glob("*.wav"))
    if wavs != sorted(p.name for p in (after / "audio").glob("*.wav")):
        problems.append("audio/: different line files")
    problems += [f"audio/{n}: samples differ" for n in wavs
                 if (after / "audio" / n).exists() and samples(before / "audio" / n) != samples(after / "audio" / n)]
    if not np.array_equal(pixels(before / "storyboard.png"), pixels(after / "storyboard.png")):
        problems.append("storyboard.png: pixels differ")
    count, lowest = 0, math.inf
    a_frames, b_frames = frames(before / "episode.mp4"), frames(after / "episode.mp4")
    for a, b in zip(a_frames, b_frames):
        count += 1
        lowest = min(lowest, psnr(a, b))
    extra = sum(1 for _ in a_frames) + sum(1 for _ in b_frames)
    if extra:
        problems.append(f"episode.mp4: frame counts differ ({extra} unmatched frames)")
    if lowest < min_psnr:
        problems.append(f"episode.mp4: lowest frame PSNR {lowest:.1f} dB < {min_psnr} dB")
    print(f"{len(TEXT)} text files, {len(wavs)} WAVs, storyboard.png, episode.mp4: {count} frames, "
          f"lowest PSNR {lowest:.1f} dB")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--min-psnr", type=float, default=50.0)
    args = parser.parse_args()
    problems = compare(args.before, args.after, args.min_psnr)
    for p in problems:
        print("DIFFERENT:", p)
    print("same content" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
