"""Benchmark: final-cut render time, ffmpeg filtergraph vs moviepy, measured side by side.

    python benchmarks/compose_backends.py [--seconds 10] [--out benchmarks/results]

Builds a real episode fragment (rule-based screenplay, espeak-ng dubbing, animatic clips) at
1080x1920, then times each compose backend on the same inputs in the same process and prints
the ratio. Writes JSON with the hardware and library versions next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from microdrama.domain import Brief, Voice
from microdrama.skill import SkillContext
from microdrama.skills.animatic import AnimaticRenderer
from microdrama.skills.compose_ffmpeg import FfmpegComposer
from microdrama.skills.compose_moviepy import MoviepyComposer
from microdrama.skills.dubbing_espeak import EspeakDubbing
from microdrama.skills.mix_ffmpeg import FfmpegMixer
from microdrama.skills.screenplay_rules import RuleBasedScreenplayWriter
from microdrama.skills.storyboard import time_shots
from microdrama.skills.subtitles import SubtitleWriter
from microdrama.stages import (
    ComposeInput,
    DubbingInput,
    MixInput,
    ScreenplayInput,
    StoryboardInput,
    SubtitlesInput,
    VisualsInput,
)


def build_inputs(work: Path, seconds: float) -> ComposeInput:
    brief = Brief(title="基准", premise="被赶出家门的千金归来", genre="revenge", target_seconds=60)
    sp = RuleBasedScreenplayWriter()(ScreenplayInput(brief=brief), SkillContext(work)).output
    audio, durations = {}, {}
    for ln in sp.spoken_lines():
        voice = Voice(gender="male") if ln.speaker == "narrator" else sp.series.character(ln.speaker).voice
        d = EspeakDubbing()(DubbingInput(line_id=ln.id, text=ln.text, language="zh", voice=voice),
                            SkillContext(work / "audio")).output
        audio[ln.id], durations[ln.id] = d.audio, d.duration_s
    board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations=durations))
    kept, total = [], 0.0
    for ts in board.shots:  # the first shots adding up to about `seconds`
        if total >= seconds:
            break
        kept.append(ts)
        total += ts.duration_s
    board = board.model_copy(update={"shots": kept})
    clips = {}
    for ts in kept:
        chars = [sp.series.character(c) for c in ts.shot.characters]
        clips[ts.shot.id] = AnimaticRenderer()(VisualsInput(shot=ts, characters=chars),
                                               SkillContext(work / "clips")).output.video
    subs = SubtitleWriter()(SubtitlesInput(storyboard=board), SkillContext(work / "subs")).output
    sound = FfmpegMixer()(MixInput(storyboard=board, line_audio={c.line_id: audio[c.line_id] for c in board.cues()}),
                          SkillContext(work / "mix")).output  # made once, beside the pictures: not compared
    return ComposeInput(storyboard=board, clips=clips, sound=sound, subtitles_ass=subs.ass)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="approximate length of the fragment")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    work = args.out / "compose_work"
    print(f"building a ~{args.seconds:.0f} s 1080x1920 fragment…", flush=True)
    inputs = build_inputs(work, args.seconds)
    timings = {}
    for skill in (FfmpegComposer(), MoviepyComposer()):
        t0 = time.perf_counter()
        result = skill(inputs, SkillContext(work / skill.name))
        timings[skill.name] = {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": result.usage.cpu_seconds,
                               "video_s": round(result.output.duration_s, 2)}
        print(f"{skill.name:16s} {timings[skill.name]['wall_s']:6.2f} s wall for "
              f"{result.output.duration_s:.1f} s of video", flush=True)
    ratio = timings["compose-moviepy"]["wall_s"] / timings["compose-ffmpeg"]["wall_s"]
    print(f"moviepy / ffmpeg wall-time ratio: {ratio:.1f}x")
    report = {
        "benchmark": "compose_backends",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "timings": timings,
        "ratio_moviepy_over_ffmpeg": round(ratio, 2),
        "hardware": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count(), "system": platform.platform()},
        "versions": {"python": sys.version.split()[0],
                     **{p: version(p) for p in ("microdrama", "moviepy", "imageio-ffmpeg", "pillow", "numpy")}},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "compose_backends.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
