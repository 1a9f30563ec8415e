"""A shot's motion from a video-generation API (Wan on DashScope, Seedance on Ark, an OpenAI-compatible
`/v1/videos`), through the exactly-once job client.

Each clip is asked for at one of the model's allowed lengths that covers the shot, then trimmed; a
clip is never slowed by more than 1.1× to fill a shot. A shot longer than the model's longest clip is
made of continuation takes: each next take starts from the last frame of the one before (image-to-video),
and the takes are joined. With an image-to-video model set, the first take starts from the reference
image of the first character on screen, so faces stay the same across shots. Clips are asked for
without watermarks, captions or music: subtitles, marks and sound are added later by the pipeline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from microdrama.cloud import adapter_for
from microdrama.cloud.jobs import JobSpec
from microdrama.cloud.skill_support import (
    CloudOptions,
    CloudSkill,
    account_of,
    add_quantities,
    attempts_kept,
    job_client,
    video_tier,
    write_provider_record,
)
from microdrama.domain import shot_prompt
from microdrama.errors import InputError
from microdrama.media import MAX_STRETCH, probe, retime_filter, run_ffmpeg
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ShotClip, VisualsInput


class CloudVideoOptions(CloudOptions):
    i2v_model: str | None = Field(None, description="image-to-video model: starts shots from character references "
                                                    "and continues long shots from the last frame")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="fixed seed; empty = the provider's choice")
    interpolation: Literal["mci", "blend"] = Field("mci", description="how a clip reaches the delivery frame rate: "
                                                  "motion-compensated (mci) or a cheap cross-fade (blend); never "
                                                  "by repeating frames")


class CloudVideoRenderer(CloudSkill, Skill[VisualsInput, ShotClip, CloudVideoOptions]):
    name = "video-cloud"
    stage = "visuals"
    version = "1"
    backend = "video-generation API"
    description = "Renders a shot through a video-generation API (Wan, Seedance, OpenAI-compatible), paid exactly once."
    Input = VisualsInput
    Output = ShotClip
    Options = CloudVideoOptions

    def quote(self, inputs: VisualsInput, options: CloudVideoOptions) -> dict[str, float]:
        plan = self.plan(inputs, options)
        return {f"api_video_seconds_{self._tier(inputs, options)}": float(sum(plan)), "api_calls": float(len(plan))}

    def _tier(self, inputs: VisualsInput, options: CloudVideoOptions) -> str:
        adapter = adapter_for(account_of(self.name, options))
        return video_tier(*adapter.video_size(options.i2v_model or options.model, inputs.encode.width,
                                              inputs.encode.height))

    def check_inputs(self, inputs: VisualsInput, options: CloudVideoOptions) -> None:
        account = account_of(self.name, options)
        plan = self.plan(inputs, options)
        if len(plan) > 1 and not options.i2v_model:
            longest = max(adapter_for(account).video_durations(options.model))
            raise InputError(f"shot {inputs.shot.shot.id} lasts {inputs.shot.duration_s:.1f} s, longer than "
                             f"{options.model}'s longest clip ({longest:g} s) even slowed {MAX_STRETCH}×: set "
                             f"options.{self.name}.i2v_model so it can be continued from its last frame")

    def plan(self, inputs: VisualsInput, options: CloudVideoOptions) -> list[float]:
        """The clip lengths to ask for: one that covers the shot, or continuation takes of the longest."""
        adapter = adapter_for(account_of(self.name, options))
        allowed = set(adapter.video_durations(options.model))
        if options.i2v_model:  # any take may be image-to-video: only lengths both models take
            allowed = allowed & set(adapter.video_durations(options.i2v_model)) or set(
                adapter.video_durations(options.i2v_model))
        lengths = sorted(allowed)
        needed = inputs.shot.duration_s / MAX_STRETCH
        for length in lengths:
            if length >= needed - 1e-6:
                return [length]
        return [lengths[-1]] * math.ceil(needed / lengths[-1] - 1e-6)

    def run(self, inputs: VisualsInput, options: CloudVideoOptions,
            ctx: SkillContext) -> tuple[ShotClip, dict[str, float]]:
        with attempts_kept(self, options):
            return self._render(inputs, options, ctx)

    def _render(self, inputs: VisualsInput, options: CloudVideoOptions,
                ctx: SkillContext) -> tuple[ShotClip, dict[str, float]]:
        client = job_client(options, ctx, self.transport)
        enc, shot = inputs.encode, inputs.shot
        prompt = shot_prompt(shot, inputs.characters)
        first = next((inputs.reference_images[c.id] for c in inputs.characters if c.id in inputs.reference_images),
                     None) if options.i2v_model else None
        takes, outcomes, models = [], [], []
        for i, seconds in enumerate(self.plan(inputs, options), 1):
            image = first if i == 1 else str(_last_frame(takes[-1], ctx.path(f"takes/part{i - 1}-last.png")))
            models.append(options.i2v_model if image else options.model)
            seed = None if options.seed is None else (options.seed + inputs.take - 1) % 2**31  # another take, another seed
            spec = JobSpec(kind="video", model=models[-1], prompt=prompt,
                           image=image, duration_s=seconds, width=enc.width, height=enc.height, seed=seed,
                           extra=options.extra)
            outcome = client.run(spec, ctx.work_dir / "takes", f"take{inputs.take}-part{i}")
            probe(outcome.files[0])  # decodable, or an error now rather than in the final cut
            takes.append(outcome.files[0])
            outcomes.append(outcome)
        out = ctx.path(f"{shot.shot.id}.mp4")
        got = sum(probe(t).duration_s for t in takes)
        stretch = max(1.0, min(MAX_STRETCH, shot.duration_s / got))
        _fit(takes, out, enc.width, enc.height, enc.fps, shot.frames, stretch, enc.crf, enc.preset,
             options.interpolation)
        write_provider_record(ctx, client.adapter, options, outcomes)
        quantities = add_quantities(outcomes)
        billed = quantities.pop("api_video_seconds", 0.0)  # priced by resolution tier, as providers bill it
        quantities[f"api_video_seconds_{self._tier(inputs, options)}"] = billed
        quantities.update(video_takes=float(len(takes)), video_seconds=round(shot.frames / enc.fps, 4))
        return ShotClip(shot_id=shot.shot.id, video=str(out), frames=shot.frames, duration_s=shot.frames / enc.fps,
                        width=enc.width, height=enc.height, fps=enc.fps,
                        source=f"{client.adapter.name} {'+'.join(sorted(set(models)))} ({len(takes)} take(s))"), quantities


def _last_frame(video: Path, out: Path) -> Path:
    run_ffmpeg(["-y", "-sseof", "-0.2", "-i", video, "-frames:v", "1", "-update", "1", out], what="last frame")
    return out


def _fit(takes: list[Path], out: Path, width: int, height: int, fps: int, frames: int, stretch: float,
         crf: int, preset: str, interpolation: str) -> None:
    """Join the takes, fill the frame (scale and centre-crop), slow by at most MAX_STRETCH, reach the delivery
    rate by interpolating motion (not repeating frames), and cut to the shot."""
    source_fps = probe(takes[0]).fps or fps
    inputs: list[Any] = []
    for take in takes:
        inputs += ["-i", take]
    # Takes may come back at different sizes (image-to-video follows its first frame): each is fitted first.
    fitted = "".join(f"[{i}:v]fps={source_fps:g},scale={width}:{height}:force_original_aspect_ratio=increase,"
                     f"crop={width}:{height},setsar=1[t{i}];" for i in range(len(takes)))
    joined = "".join(f"[t{i}]" for i in range(len(takes))) + f"concat=n={len(takes)}:v=1:a=0[j];"
    retime = retime_filter(source_fps, fps, stretch, interpolation)
    run_ffmpeg(["-y", *inputs, "-filter_complex",
                f"{fitted}{joined}[j]{retime},tpad=stop_mode=clone:stop_duration=1[v]",
                "-map", "[v]", "-frames:v", str(frames), "-an", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                "-pix_fmt", "yuv420p", out], what="fit clip to shot")
