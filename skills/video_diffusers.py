"""Video shots from open video models with diffusers (Wan, LTX-Video, CogVideoX, HunyuanVideo).

Same contract as the animatic (`stage = "visuals"`, a ShotClip out), so compose takes either.
The model comes from the registry and is loaded once per worker process; every shot gets a
deterministic seed (from the run seed and the shot id), so a re-run renders the same pixels.
For image-to-video models the shot starts from the on-screen character's reference image,
generated once per character with a fixed character seed — that is how faces and clothes stay
the same across shots and episodes. The model's frames are scaled and cropped to the 9:16
delivery size and timed to the shot (slowed, or held on the last frame) by ffmpeg.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from microdrama.deps import require
from microdrama.diffusion_registry import (
    DiffusersOptions,
    GpuMeter,
    ModelRegistry,
    device_name,
    pick_device,
    seed_for,
    using,
)
from microdrama.domain import shot_prompt
from microdrama.errors import InputError
from microdrama.files import atomic_path
from microdrama.media import run_ffmpeg
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ShotClip, VisualsInput

if TYPE_CHECKING:
    from microdrama.config import ProjectConfig


class DiffusersVideoOptions(DiffusersOptions):
    model: str = Field("wan2.1-t2v-1.3b", description="registry id of the video model")
    gen_width: int | None = Field(None, ge=16, description="override the generation width (model units)")
    gen_height: int | None = Field(None, ge=16, description="override the generation height")
    gen_frames: int | None = Field(None, ge=1, description="override the number of generated frames")


class DiffusersVideoRenderer(Skill[VisualsInput, ShotClip, DiffusersVideoOptions]):
    name = "video-diffusers"
    stage = "visuals"
    version = "1"
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
        spec = ModelRegistry.load(options.registry).get(options.model)
        if spec.kind == "text-to-image":
            raise InputError(f"model '{spec.id}' makes images, not video; use it in the keyframe stage")
        if spec.kind == "image-to-video":
            on_screen = [c for c in inputs.shot.shot.characters if c in inputs.reference_images]
            if inputs.shot.shot.characters and not on_screen:
                raise InputError(f"shot {inputs.shot.shot.id}: image-to-video model '{spec.id}' needs a reference "
                                 "image of a character on screen (generate character references first)")

    def backend_for(self, options: DiffusersVideoOptions) -> str:
        return f"diffusers {options.model}"

    def run(self, inputs: VisualsInput, options: DiffusersVideoOptions,
            ctx: SkillContext) -> tuple[ShotClip, dict[str, float]]:
        torch = require("torch", extra="diffusion", purpose="The video-diffusers skill")
        spec = ModelRegistry.load(options.registry).get(options.model)
        device = pick_device(options.device)
        d = spec.defaults
        width, height = options.gen_width or d.width, options.gen_height or d.height
        frames = options.gen_frames or d.frames
        key = inputs.shot.shot.id if inputs.take == 1 else f"{inputs.shot.shot.id}#take{inputs.take}"
        seed = seed_for(options.seed, key)
        kwargs = dict(prompt=shot_prompt(inputs.shot, inputs.characters), height=height, width=width,
                      num_frames=frames, num_inference_steps=options.steps or d.steps, guidance_scale=d.guidance,
                      generator=torch.Generator(device="cpu").manual_seed(seed), output_type="np")
        if spec.kind == "image-to-video":
            from PIL import Image

            ref = next(inputs.reference_images[c] for c in inputs.shot.shot.characters if c in inputs.reference_images)
            kwargs["image"] = Image.open(ref).convert("RGB").resize((width, height))
        ctx.info(f"{spec.id}: shot {inputs.shot.shot.id}, {frames} frames at {width}x{height}, seed {seed}")
        with using(spec, device) as pipe, GpuMeter(device) as gpu:
            result = pipe(**kwargs).frames[0]
        video = np.asarray(result)
        if video.dtype != np.uint8:
            video = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
        self.device_used = device_name(device)
        out = self._encode(video, d.fps, inputs, ctx)
        enc = inputs.encode
        clip = ShotClip(shot_id=inputs.shot.shot.id, video=str(out), frames=inputs.shot.frames,
                        duration_s=inputs.shot.frames / enc.fps, width=enc.width, height=enc.height,
                        fps=enc.fps, source=f"{spec.id} ({spec.licence})")
        quantities = {"gpu_seconds": round(gpu.seconds, 4) if device != "cpu" else 0.0,
                      "frames_generated": float(video.shape[0]), "generated_video_seconds": round(video.shape[0] / d.fps, 4),
                      "peak_gpu_memory_mb": round(gpu.peak_mb, 1), "frames_rendered": float(inputs.shot.frames)}
        return clip, quantities

    def _encode(self, video: np.ndarray, model_fps: int, inputs: VisualsInput, ctx: SkillContext) -> Path:
        """Generated frames -> a clip of exactly the shot's frames at the delivery size and rate."""
        enc = inputs.encode
        raw = ctx.path(f"{inputs.shot.shot.id}.rgb")
        raw.write_bytes(video.tobytes())
        n, h, w = video.shape[:3]
        duration = inputs.shot.frames / enc.fps
        slow = max(1.0, duration / (n / model_fps))  # stretch time when the model's clip is shorter than the shot
        out = ctx.path(f"{inputs.shot.shot.id}.mp4")
        with atomic_path(out) as tmp:
            run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(model_fps), "-i", raw.name,
                        "-vf", f"setpts={slow:.6f}*PTS,scale={enc.width}:{enc.height}:force_original_aspect_ratio="
                        f"increase:flags=lanczos,crop={enc.width}:{enc.height},fps={enc.fps},"
                        f"tpad=stop_mode=clone:stop_duration={duration:.3f},format=yuv420p",
                        "-frames:v", str(inputs.shot.frames), "-c:v", "libx264", "-preset", enc.preset,
                        "-crf", str(enc.crf), "-an", tmp.name], cwd=ctx.work_dir,
                       what=f"encoding shot {inputs.shot.shot.id}")
        raw.unlink()
        return out
