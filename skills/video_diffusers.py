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

import hashlib
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from microdrama.deps import require
from microdrama.domain import Character, TimedShot
from microdrama.errors import InputError
from microdrama.media import run_ffmpeg
from microdrama.models import GpuMeter, ModelRegistry, device_name, pick_device, using
from microdrama.skill import Skill, SkillContext, temp_path_for
from microdrama.skills.animatic import ShotClip


def shot_seed(base: int, key: str) -> int:
    return (base * 1_000_003 + int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)) % (2**31)


def prompt_for(shot: TimedShot, characters: list[Character]) -> str:
    looks = "; ".join(f"{c.name}: {c.look}" for c in characters)
    return f"{shot.shot.visual_prompt}. {looks}. Vertical 9:16 frame, cinematic micro-drama, no text, no subtitles."


class VideoInput(BaseModel):
    shot: TimedShot
    characters: list[Character] = Field(default_factory=list)
    language: str = "zh"
    width: int = Field(1080, ge=16)
    height: int = Field(1920, ge=16)
    fps: int = Field(30, ge=1)
    crf: int = Field(18, ge=0, le=51)
    preset: str = "ultrafast"
    model: str = Field("wan2.1-t2v-1.3b", description="registry id of the video model")
    registry: str | None = Field(None, description="registry YAML; default: the bundled one")
    device: str = Field("auto", description="cuda, cuda:1, cpu or auto")
    seed: int = Field(0, description="run seed; each shot derives its own from it")
    steps: int | None = Field(None, ge=1, description="override the model's default steps")
    gen_width: int | None = Field(None, ge=16, description="override the generation size (model units)")
    gen_height: int | None = Field(None, ge=16)
    gen_frames: int | None = Field(None, ge=1)
    reference_images: dict[str, str] = Field(default_factory=dict, description="character id -> reference image")


class DiffusersVideoRenderer(Skill[VideoInput, ShotClip]):
    name = "video-diffusers"
    stage = "visuals"
    version = "1"
    backend = "diffusers video pipeline"
    description = "Renders a shot with an open video model (Wan, LTX, CogVideoX, Hunyuan) loaded from a local folder."
    Input = VideoInput
    Output = ShotClip

    def check_inputs(self, inputs: VideoInput) -> None:
        require("diffusers", extra="diffusion", purpose="The video-diffusers skill")
        spec = ModelRegistry.load(inputs.registry).get(inputs.model)
        if spec.kind == "text-to-image":
            raise InputError(f"model '{spec.id}' makes images, not video; use it in the keyframe stage")
        if spec.kind == "image-to-video":
            on_screen = [c for c in inputs.shot.shot.characters if c in inputs.reference_images]
            if inputs.shot.shot.characters and not on_screen:
                raise InputError(f"shot {inputs.shot.shot.id}: image-to-video model '{spec.id}' needs a reference "
                                 "image of a character on screen (generate character references first)")

    def backend_for(self, inputs: VideoInput) -> str:
        return f"diffusers {inputs.model}"

    def run(self, inputs: VideoInput, ctx: SkillContext) -> tuple[ShotClip, dict[str, float]]:
        torch = require("torch", extra="diffusion", purpose="The video-diffusers skill")
        spec = ModelRegistry.load(inputs.registry).get(inputs.model)
        device = pick_device(inputs.device)
        d = spec.defaults
        width, height = inputs.gen_width or d.width, inputs.gen_height or d.height
        frames = inputs.gen_frames or d.frames
        seed = shot_seed(inputs.seed, inputs.shot.shot.id)
        kwargs = dict(prompt=prompt_for(inputs.shot, inputs.characters), height=height, width=width,
                      num_frames=frames, num_inference_steps=inputs.steps or d.steps, guidance_scale=d.guidance,
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
        clip = ShotClip(shot_id=inputs.shot.shot.id, video=str(out), frames=inputs.shot.frames,
                        duration_s=inputs.shot.frames / inputs.fps, width=inputs.width, height=inputs.height,
                        fps=inputs.fps, source=f"{spec.id} ({spec.licence})")
        quantities = {"gpu_seconds": round(gpu.seconds, 4) if device != "cpu" else 0.0,
                      "frames_generated": float(video.shape[0]), "generated_video_seconds": round(video.shape[0] / d.fps, 4),
                      "peak_gpu_memory_mb": round(gpu.peak_mb, 1), "frames_rendered": float(inputs.shot.frames)}
        return clip, quantities

    def _encode(self, video: np.ndarray, model_fps: int, inputs: VideoInput, ctx: SkillContext) -> Path:
        """Generated frames -> a clip of exactly the shot's frames at the delivery size and rate."""
        raw = ctx.path(f"{inputs.shot.shot.id}.rgb")
        raw.write_bytes(video.tobytes())
        n, h, w = video.shape[:3]
        duration = inputs.shot.frames / inputs.fps
        slow = max(1.0, duration / (n / model_fps))  # stretch time when the model's clip is shorter than the shot
        out = ctx.path(f"{inputs.shot.shot.id}.mp4")
        tmp = temp_path_for(out)
        run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(model_fps), "-i", raw.name,
                    "-vf", f"setpts={slow:.6f}*PTS,scale={inputs.width}:{inputs.height}:force_original_aspect_ratio="
                    f"increase:flags=lanczos,crop={inputs.width}:{inputs.height},fps={inputs.fps},"
                    f"tpad=stop_mode=clone:stop_duration={duration:.3f},format=yuv420p",
                    "-frames:v", str(inputs.shot.frames), "-c:v", "libx264", "-preset", inputs.preset,
                    "-crf", str(inputs.crf), "-an", tmp.name], cwd=ctx.work_dir, what=f"encoding shot {inputs.shot.shot.id}")
        raw.unlink()
        tmp.replace(out)
        return out
