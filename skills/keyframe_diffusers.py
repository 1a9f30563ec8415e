"""Keyframes and character reference images from open image models (FLUX, SDXL, Kolors, SD3.5).

A character's reference image is generated once with a seed fixed by the character id, so every
episode that meets the character again gets the same face and clothes; image-to-video models
start their shots from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from microdrama.errors import InputError
from microdrama.files import atomic_path
from microdrama.skill import Skill, SkillContext
from microdrama.stages import Keyframe, KeyframeInput

if TYPE_CHECKING:
    from microdrama.config import ProjectConfig


class DiffusersKeyframeOptions(DiffusersOptions):
    model: str = Field("flux.1-schnell", description="registry id of a text-to-image model")


class DiffusersKeyframe(Skill[KeyframeInput, Keyframe, DiffusersKeyframeOptions]):
    name = "keyframe-diffusers"
    stage = "keyframe"
    version = "1"
    backend = "diffusers image pipeline"
    description = "Generates a keyframe or a character reference image with an open image model (local folder)."
    Input = KeyframeInput
    Output = Keyframe
    Options = DiffusersKeyframeOptions

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        v = config.video
        found = {"registry": v.registry, "device": v.device, "seed": v.seed}
        if v.reference_model:
            found["model"] = v.reference_model
        return {**found, **config.options.get(cls.name, {})}

    def check_inputs(self, inputs: KeyframeInput, options: DiffusersKeyframeOptions) -> None:
        require("diffusers", extra="diffusion", purpose="The keyframe-diffusers skill")
        if ModelRegistry.load(options.registry).get(options.model).kind != "text-to-image":
            raise InputError(f"options.{self.name}.model: '{options.model}' is not a text-to-image model")

    def backend_for(self, options: DiffusersKeyframeOptions) -> str:
        return f"diffusers {options.model}"

    def run(self, inputs: KeyframeInput, options: DiffusersKeyframeOptions,
            ctx: SkillContext) -> tuple[Keyframe, dict[str, float]]:
        torch = require("torch", extra="diffusion", purpose="The keyframe-diffusers skill")
        spec = ModelRegistry.load(options.registry).get(options.model)
        device = pick_device(options.device)
        seed = seed_for(options.seed, inputs.key)
        with using(spec, device) as pipe, GpuMeter(device) as gpu:
            image = pipe(prompt=inputs.prompt, width=inputs.width or spec.defaults.width,
                         height=inputs.height or spec.defaults.height,
                         num_inference_steps=options.steps or spec.steps(), guidance_scale=spec.guidance(),
                         generator=torch.Generator(device="cpu").manual_seed(seed)).images[0]
        self.device_used = device_name(device)
        out = ctx.path(f"{inputs.key}.png")
        with atomic_path(out) as tmp:
            image.save(tmp)
        quantities = {"gpu_seconds": round(gpu.seconds, 4) if device != "cpu" else 0.0, "images": 1.0}
        if gpu.peak_mb is not None:  # CUDA only
            quantities["peak_gpu_memory_mb"] = round(gpu.peak_mb, 1)
        return Keyframe(key=inputs.key, image=str(out), seed=seed), quantities
