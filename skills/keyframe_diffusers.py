"""Keyframes and character reference images from open image models (FLUX, SDXL, Kolors, SD3.5).

A character's reference image is generated once with a seed fixed by the character id, so every
episode that meets the character again gets the same face and clothes; image-to-video models
start their shots from it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from microdrama.deps import require
from microdrama.errors import InputError
from microdrama.models import GpuMeter, ModelRegistry, device_name, pick_device, using
from microdrama.skill import Skill, SkillContext, temp_path_for
from microdrama.skills.video_diffusers import shot_seed


class KeyframeInput(BaseModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="names the image and seeds it, e.g. a character id")
    prompt: str = Field(min_length=1)
    model: str = Field("flux.1-schnell", description="registry id of a text-to-image model")
    registry: str | None = None
    device: str = "auto"
    seed: int = 0
    width: int | None = Field(None, ge=16)
    height: int | None = Field(None, ge=16)
    steps: int | None = Field(None, ge=1)


class Keyframe(BaseModel):
    key: str
    image: str
    seed: int


class DiffusersKeyframe(Skill[KeyframeInput, Keyframe]):
    name = "keyframe-diffusers"
    stage = "keyframe"
    version = "1"
    backend = "diffusers image pipeline"
    description = "Generates a keyframe or a character reference image with an open image model (local folder)."
    Input = KeyframeInput
    Output = Keyframe

    def check_inputs(self, inputs: KeyframeInput) -> None:
        require("diffusers", extra="diffusion", purpose="The keyframe-diffusers skill")
        if ModelRegistry.load(inputs.registry).get(inputs.model).kind != "text-to-image":
            raise InputError(f"model '{inputs.model}' is not a text-to-image model")

    def backend_for(self, inputs: KeyframeInput) -> str:
        return f"diffusers {inputs.model}"

    def run(self, inputs: KeyframeInput, ctx: SkillContext) -> tuple[Keyframe, dict[str, float]]:
        torch = require("torch", extra="diffusion", purpose="The keyframe-diffusers skill")
        spec = ModelRegistry.load(inputs.registry).get(inputs.model)
        device = pick_device(inputs.device)
        seed = shot_seed(inputs.seed, inputs.key)
        with using(spec, device) as pipe, GpuMeter(device) as gpu:
            image = pipe(prompt=inputs.prompt, width=inputs.width or spec.defaults.width,
                         height=inputs.height or spec.defaults.height,
                         num_inference_steps=inputs.steps or spec.defaults.steps, guidance_scale=spec.defaults.guidance,
                         generator=torch.Generator(device="cpu").manual_seed(seed)).images[0]
        self.device_used = device_name(device)
        out = ctx.path(f"{inputs.key}.png")
        tmp = temp_path_for(out)
        image.save(tmp)
        tmp.replace(out)
        return Keyframe(key=inputs.key, image=str(out), seed=seed), {
            "gpu_seconds": round(gpu.seconds, 4) if device != "cpu" else 0.0, "images": 1.0,
            "peak_gpu_memory_mb": round(gpu.peak_mb, 1)}
