"""Video shots from open video models with diffusers (Wan, LTX-Video, CogVideoX, HunyuanVideo).

Same contract as the animatic (`stage = "visuals"`, a ShotClip out), so compose takes either.
The model comes from the registry and is loaded once per worker process; every shot gets a
deterministic seed (from the run seed and the shot id), so a re-run renders the same pixels.
For image-to-video models the shot starts from the on-screen character's reference image,
generated once per character with a fixed character seed — that is how faces and clothes stay
the same across shots and episodes.

Timing: each take asks for the frames that cover the shot at the model's own rate (up to its longest
clip, following its frame rule, e.g. Wan's 4k+1). A shot longer than that is slowed by at most 1.1×;
beyond, it is made of continuation takes — the last frame seeds the next image-to-video take (the
registry's `continue_with`) — joined without the repeated seam frame. The model's rate becomes the
delivery rate by motion interpolation, not frame repetition (which judders): a frame-interpolation model from a
local folder (`interpolation_model`, e.g. RIFE as ONNX) when one is set, ffmpeg's minterpolate otherwise.

Each shot leaves `provider.json` (as model-API steps do): the model, its licence and LoRAs, how the pipeline
was set up (memory plan, compile, attention and how `auto` chose it, cache), every take's seconds and peak GPU
memory, and how the frame rate was converted (`frame_rate`: ffmpeg, or the interpolation model with its licence)
— the run's manifest lists it under `providers`, next to the take it belongs to.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from microdrama.deps import require
from microdrama.diffusion_registry import (
    DiffusersOptions,
    GpuMeter,
    ModelRegistry,
    ModelSpec,
    device_name,
    pick_device,
    resident_record,
    seed_for,
    using,
)
from microdrama.domain import shot_prompt
from microdrama.errors import InputError
from microdrama.files import atomic_path, atomic_write_text
from microdrama.interpolation import frame_times, load_interpolator, retime
from microdrama.media import MAX_STRETCH, fit_frames
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ShotClip, VisualsInput

if TYPE_CHECKING:
    from microdrama.config import ProjectConfig


class DiffusersVideoOptions(DiffusersOptions):
    model: str = Field("wan2.1-t2v-1.3b", description="registry id of the video model")
    gen_width: int | None = Field(None, ge=16, description="override the generation width (model units)")
    gen_height: int | None = Field(None, ge=16, description="override the generation height")
    gen_frames: int | None = Field(None, ge=1, description="override the longest take in frames (the model's "
                                                           "frame rule still applies)")
    interpolation: Literal["mci", "blend"] = Field(
        "mci", description="model fps -> delivery fps with ffmpeg (when no interpolation_model): mci = "
                           "motion-compensated in-betweens (real motion, ~3 s of CPU per second of 480x832 video), "
                           "blend = cross-fades (cheap)")
    interpolation_model: Path | None = Field(
        None, description="folder with a frame-interpolation model (model.onnx + model.yaml, its card: see "
                          "assets/models/interpolation-model.yaml, e.g. Practical-RIFE, MIT) that makes the "
                          "in-betweens instead of ffmpeg; on CUDA with onnxruntime-gpu, else on the CPU. Relative: "
                          "under MICRODRAMA_MODELS_DIR. Empty = ffmpeg (`interpolation`)")


class DiffusersVideoRenderer(Skill[VisualsInput, ShotClip, DiffusersVideoOptions]):
    name = "video-diffusers"
    stage = "visuals"
    version = "2"
    backend = "diffusers video pipeline"
    description = "Renders a shot with an open video model (Wan, LTX, CogVideoX, Hunyuan) loaded from a local folder."
    Input = VisualsInput
    Output = ShotClip
    Options = DiffusersVideoOptions

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        v = config.video
        return {"model": v.model, "registry": v.registry, "device": v.device, "seed": v.seed, "steps": v.steps,
                **config.options.get(cls.name, {})}

    def check_inputs(self, inputs: VisualsInput, options: DiffusersVideoOptions) -> None:
        require("diffusers", extra="diffusion", purpose="The video-diffusers skill")
        registry = ModelRegistry.load(options.registry)
        spec = registry.get(options.model)
        if spec.kind == "text-to-image":
            raise InputError(f"model '{spec.id}' makes images, not video; use it in the keyframe stage")
        if spec.kind == "image-to-video" and _start_image(inputs) is None:
            raise InputError(f"shot {inputs.shot.shot.id}: image-to-video model '{spec.id}' needs a reference "
                             "image of a character on screen (generate character references first, or use a "
                             "text-to-video model for shots without characters)")
        if options.interpolation_model is not None:  # a bad folder fails here, before minutes of GPU work
            load_interpolator(options.interpolation_model, pick_device(options.device),
                              option=f"options.{self.name}.interpolation_model")
        takes, nxt = self.plan(inputs, options, registry)
        for model in {spec.id: spec, **({nxt.id: nxt} if nxt and len(takes) > 1 else {})}.values():
            if model.speed.cache.method == "mag" and options.steps and options.steps != model.steps():
                raise InputError(f"model '{model.id}' uses MagCache calibrated for {model.steps()} steps, but "
                                 f"options.{self.name}.steps is {options.steps}: remove the steps override or set "
                                 f"the entry's speed.cache.method to first-block or none")
        if len(takes) > 1 and nxt is None:
            d = spec.defaults
            longest = options.gen_frames or d.frames
            raise InputError(
                f"shot {inputs.shot.shot.id} lasts {inputs.shot.frames / inputs.encode.fps:.2f} s, longer than "
                f"'{spec.id}''s longest clip ({longest} frames at {d.fps} fps = {longest / d.fps:.2f} s) even slowed "
                f"{MAX_STRETCH}×: set continue_with: <an image-to-video model id> on '{spec.id}' in the model "
                f"registry so the shot is continued from its last frame, or choose a model that makes longer "
                f"clips (options.{self.name}.model)")
        if nxt is not None and len(takes) > 1 and nxt.defaults.fps != spec.defaults.fps:
            raise InputError(f"model '{spec.id}' runs at {spec.defaults.fps} fps but its continue_with model "
                             f"'{nxt.id}' at {nxt.defaults.fps} fps: continue_with must name a model of the same "
                             "rate")

    def plan(self, inputs: VisualsInput, options: DiffusersVideoOptions,
             registry: ModelRegistry | None = None) -> tuple[list[int], ModelSpec | None]:
        """Frames per take, and the image-to-video model that makes the continuation takes (None: none)."""
        registry = registry or ModelRegistry.load(options.registry)
        spec = registry.get(options.model)
        nxt = spec if spec.kind == "image-to-video" else (registry.get(spec.continue_with)
                                                            if spec.continue_with else None)
        d = spec.defaults
        seconds = inputs.shot.frames / inputs.encode.fps
        first = options.gen_frames or d.frames
        later = options.gen_frames or (nxt.defaults.frames if nxt else first)
        return plan_takes(seconds, d.fps, first, d.frame_step, later,
                          nxt.defaults.frame_step if nxt else d.frame_step), nxt

    def backend_for(self, options: DiffusersVideoOptions) -> str:
        return f"diffusers {options.model}"

    def run(self, inputs: VisualsInput, options: DiffusersVideoOptions,
            ctx: SkillContext) -> tuple[ShotClip, dict[str, float]]:
        torch = require("torch", extra="diffusion", purpose="The video-diffusers skill")
        registry = ModelRegistry.load(options.registry)
        spec = registry.get(options.model)
        device = pick_device(options.device)
        d = spec.defaults
        width, height = options.gen_width or d.width, options.gen_height or d.height
        takes, nxt = self.plan(inputs, options, registry)
        key = inputs.shot.shot.id if inputs.take == 1 else f"{inputs.shot.shot.id}#take{inputs.take}"
        prompt = shot_prompt(inputs.shot, inputs.characters)
        image = _start_image(inputs)
        parts: list[np.ndarray] = []
        gpu_seconds, peak_mb, log = 0.0, None, []
        for i, frames in enumerate(takes, 1):
            model = spec if i == 1 else nxt
            assert model is not None  # check_inputs refuses a long shot without a continuation model
            seed = seed_for(options.seed, key if i == 1 else f"{key}/part{i}")
            kwargs = dict(prompt=prompt, height=height, width=width, num_frames=frames,
                          num_inference_steps=options.steps or model.steps(), guidance_scale=model.guidance(),
                          generator=torch.Generator(device="cpu").manual_seed(seed), output_type="np")
            if model.kind == "image-to-video":
                from PIL import Image

                start = Image.open(image).convert("RGB") if i == 1 else Image.fromarray(parts[-1][-1])
                kwargs["image"] = start.resize((width, height))
            ctx.info(f"{model.id}: shot {inputs.shot.shot.id} take part {i}/{len(takes)}, {frames} frames at "
                     f"{width}x{height}, seed {seed}")
            with using(model, device) as pipe, GpuMeter(device) as gpu:
                result = pipe(**kwargs).frames[0]
            setup = resident_record(model, device)
            if setup is not None:
                ctx.info(f"{model.id} memory: {setup.memory.describe()}; speed: {setup.speed.describe()}")
            gpu_seconds += gpu.seconds
            if gpu.peak_mb is not None:
                peak_mb = max(peak_mb or 0.0, gpu.peak_mb)
            log.append(_take_record(model, i, frames, kwargs, gpu, setup))
            part = _uint8(np.asarray(result))
            if parts and part.shape[1:] != parts[0].shape[1:]:
                part = _resized(part, parts[0].shape[2], parts[0].shape[1])
            parts.append(part if i == 1 else part[1:])  # a continuation's first frame repeats the seed frame
        video = np.concatenate(parts)
        self.device_used = device_name(device)
        enc = inputs.encode
        seconds = inputs.shot.frames / enc.fps
        stretch = min(MAX_STRETCH, max(1.0, seconds * d.fps / max(1, video.shape[0] - 1)))
        out = ctx.path(f"{inputs.shot.shot.id}.mp4")
        video, src_fps, stretch_left, frame_rate = self._to_delivery_rate(video, d.fps, stretch, inputs, options,
                                                                          device, ctx)
        with atomic_path(out) as tmp:
            fit_frames(video, src_fps, tmp, width=enc.width, height=enc.height, fps=enc.fps, frames=inputs.shot.frames,
                       stretch=stretch_left, crf=enc.crf, preset=enc.preset, mode=options.interpolation,
                       what=f"encoding shot {inputs.shot.shot.id}")
        models = spec.id if len(takes) == 1 else f"{spec.id}+{nxt.id}" if nxt and nxt.id != spec.id else spec.id
        clip = ShotClip(shot_id=inputs.shot.shot.id, video=str(out), frames=inputs.shot.frames,
                        duration_s=inputs.shot.frames / enc.fps, width=enc.width, height=enc.height,
                        fps=enc.fps, source=f"{models} ({spec.licence})"
                        + (f", {len(takes)} takes" if len(takes) > 1 else ""))
        quantities = {"gpu_seconds": round(gpu_seconds, 4) if device != "cpu" else 0.0,
                      "frames_generated": float(sum(takes)), "video_takes": float(len(takes)),
                      "generated_video_seconds": round(video.shape[0] / d.fps, 4),
                      "frames_rendered": float(inputs.shot.frames)}
        if peak_mb is not None:  # CUDA only: a CPU run has no GPU memory to report
            quantities["peak_gpu_memory_mb"] = round(peak_mb, 1)
        atomic_write_text(ctx.path("provider.json"), json.dumps(
            {"provider": "local diffusers", "model": models, "licence": spec.licence, "device": self.device_used,
             "take": inputs.take, "peak_gpu_memory_mb": quantities.get("peak_gpu_memory_mb"), "parts": log,
             "frame_rate": frame_rate}, ensure_ascii=False, indent=1))
        return clip, quantities

    def _to_delivery_rate(self, video: np.ndarray, fps: int, stretch: float, inputs: VisualsInput,
                          options: DiffusersVideoOptions, device: str,
                          ctx: SkillContext) -> tuple[np.ndarray, float, float, dict[str, Any]]:
        """In-betweens by the interpolation model when one is set and the rate goes up; else ffmpeg does it all.

        Returns the frames, their rate and the slow-down still to apply (ffmpeg's), and the record of the method.
        """
        enc = inputs.encode
        effective = fps / stretch
        record: dict[str, Any] = {"from_fps": fps, "to_fps": enc.fps, "stretch": round(stretch, 4)}
        if enc.fps <= effective + 1e-6:
            return video, fps, stretch, {**record, "method": "ffmpeg fps (fewer frames: none made)"}
        if options.interpolation_model is None:
            return video, fps, stretch, {**record, "method": f"ffmpeg minterpolate ({options.interpolation})"}
        model = load_interpolator(options.interpolation_model, device,
                                  option=f"options.{self.name}.interpolation_model")
        made = sum(1 for _, t in frame_times(len(video), effective, enc.fps, inputs.shot.frames) if t)
        t0 = time.perf_counter()
        video = retime(video, effective, enc.fps, model, count=inputs.shot.frames)
        record.update(model.record(), in_betweens=made, seconds=round(time.perf_counter() - t0, 3))
        ctx.info(f"{model.card.name} ({model.provider}): {fps} -> {enc.fps} fps, {made} in-betweens in "
                 f"{record['seconds']} s")
        return video, enc.fps, 1.0, record


def plan_takes(seconds: float, fps: int, max_frames: int, step: int = 1, next_max: int | None = None,
               next_step: int | None = None) -> list[int]:
    """Frames per take: one take that covers the shot, the longest slowed ≤ MAX_STRETCH, or continuations.

    A take of n frames covers (n - 1) / fps seconds with one frame to spare, so interpolation never runs
    out at the end. Counts follow the frame rule (step*k + 1) and never exceed the model's longest take.
    Each continuation repeats the seed frame, so it adds n - 1 new frames.
    """
    def rule(n: int, s: int) -> int:
        return s * math.ceil(max(0, n - 1) / s) + 1

    def longest(n: int, s: int) -> int:
        return s * ((n - 1) // s) + 1

    next_step = next_step or step
    # A continuation must add frames: at least one frame-rule step beyond its seed frame.
    first = longest(max_frames, step)
    later = max(longest(next_max or max_frames, next_step), next_step + 1)
    span = seconds * fps  # frame intervals the shot lasts at the model's rate
    need = rule(math.ceil(span - 1e-6) + 1, step)
    if need <= first:
        return [need]
    takes, have = [first], first
    while (have - 1) * MAX_STRETCH < span - 1e-6:
        n = min(later, rule(math.ceil(span - 1e-6) + 1 - have + 1, next_step))
        takes.append(n)
        have += n - 1
    return takes


def _take_record(model: ModelSpec, part: int, frames: int, kwargs: dict, gpu: GpuMeter, setup) -> dict[str, Any]:
    """One generation of a shot, for provider.json: what ran, how it was set up, its time and peak memory."""
    return {"part": part, "model": model.id, "frames": frames, "steps": kwargs["num_inference_steps"],
            "guidance": kwargs["guidance_scale"], "seconds": round(gpu.seconds, 3),
            "peak_gpu_memory_mb": round(gpu.peak_mb, 1) if gpu.peak_mb is not None else None,
            "lora": [lo.model_dump(mode="json", exclude_none=True) for lo in model.lora],
            **({"memory": setup.memory.describe(), "speed": setup.speed.model_dump(),
                "load_seconds": setup.load_seconds} if setup else {})}


def _start_image(inputs: VisualsInput) -> str | None:
    """The reference image of the first character on screen that has one."""
    return next((inputs.reference_images[c] for c in inputs.shot.shot.characters if c in inputs.reference_images),
                None)


def _uint8(video: np.ndarray) -> np.ndarray:
    if video.dtype != np.uint8:
        video = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
    return video


def _resized(video: np.ndarray, width: int, height: int) -> np.ndarray:
    """A continuation take at the first take's size (an image-to-video model may round sizes differently)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.LANCZOS)) for f in video])
