"""Character sheets and reference images from an image-generation API (Wan / Qwen-Image on DashScope,
Seedream on Ark, an OpenAI-compatible `/v1/images/generations`), paid exactly once per image.

The image-to-video skills start each shot from these, so a character keeps one face across the
episode. The answer is kept as PNG; the provider's own labels are recorded, never stripped.
"""

from __future__ import annotations

from PIL import Image

from microdrama.cloud.jobs import JobSpec
from microdrama.cloud.skill_support import (
    CloudOptions,
    CloudSkill,
    account_of,
    add_quantities,
    attempts_kept,
    job_client,
    write_provider_record,
)
from microdrama.diffusion_registry import seed_for
from microdrama.errors import RenderError
from microdrama.skill import Skill, SkillContext
from microdrama.stages import Keyframe, KeyframeInput


class CloudKeyframe(CloudSkill, Skill[KeyframeInput, Keyframe, CloudOptions]):
    name = "keyframe-cloud"
    stage = "keyframe"
    version = "1"
    backend = "image-generation API"
    description = "Makes a character sheet or reference image through an image API (Wan, Qwen-Image, Seedream...)."
    Input = KeyframeInput
    Output = Keyframe
    Options = CloudOptions

    def quote(self, inputs: KeyframeInput, options: CloudOptions) -> dict[str, float]:
        return {"api_images": 1.0, "api_calls": 1.0}

    def check_inputs(self, inputs: KeyframeInput, options: CloudOptions) -> None:
        account_of(self.name, options)

    def run(self, inputs: KeyframeInput, options: CloudOptions, ctx: SkillContext) -> tuple[Keyframe, dict[str, float]]:
        with attempts_kept(self, options):
            return self._make(inputs, options, ctx)

    def _make(self, inputs: KeyframeInput, options: CloudOptions, ctx: SkillContext) -> tuple[Keyframe, dict[str, float]]:
        client = job_client(options, ctx, self.transport)
        seed = seed_for(ctx.seed, inputs.key)
        spec = JobSpec(kind="image", model=options.model, prompt=f"{inputs.prompt}. No text, no watermark.",
                       width=inputs.width or 720, height=inputs.height or 1280, seed=seed, extra=options.extra)
        outcome = client.run(spec, ctx.work_dir / "answer", inputs.key)
        out = ctx.path(f"{inputs.key}.png")
        try:
            with Image.open(outcome.files[0]) as img:  # decodable, or an error now
                img.convert("RGB").save(out)
        except OSError as exc:
            raise RenderError(f"{client.adapter.name} returned an image for '{inputs.key}' that cannot be read "
                              f"({exc}); run again with --force to ask for a new one") from None
        write_provider_record(ctx, client.adapter, options, [outcome])
        quantities = add_quantities([outcome])
        quantities.setdefault("api_images", 1.0)
        return Keyframe(key=inputs.key, image=str(out), seed=seed), quantities
