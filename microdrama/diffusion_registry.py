"""The image/video model registry and the one resident diffusers pipeline per process.

Models are data (`assets/models/registry.yaml`): pipeline class, local folder, dtype, default 9:16
size, frames and steps, measured memory footprint, speed options (regional/full torch.compile and the
attention backend, named or `auto`: measured once per card, CUDA only; diffusers' cache hooks,
quality-affecting, off by default), LoRAs merged at load (e.g. 4-step CFG-free distilled ones, with the steps
and guidance they imply) and licences. CPU offload
and VAE tiling/slicing are chosen at load time from the footprint and the card's free memory
(`memory_plan`); registry memory values only override that. Loading is always
`DiffusionPipeline.from_pretrained(local_dir)` with the hub switched off; a missing or incomplete
folder is an error that lists what is expected and how to fetch it on a connected machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from microdrama.deps import require
from microdrama.domain import Strict, load_model
from microdrama.env import ENV_MODELS_DIR, model_folder
from microdrama.errors import InputError


class ModelDefaults(Strict):
    width: int = Field(ge=16)
    height: int = Field(ge=16)
    frames: int = Field(1, ge=1, description="the longest clip the model makes well (frames asked for per take)")
    frame_step: int = Field(1, ge=1, description="frame counts must be frame_step*k + 1 (Wan/Hunyuan 4, LTX 8)")
    steps: int = Field(ge=1)
    fps: int = Field(16, ge=1)
    guidance: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _frames_follow_the_rule(self) -> "ModelDefaults":
        if self.frame_step > 1 and (self.frames - 1) % self.frame_step:
            raise ValueError(f"frames {self.frames} must be {self.frame_step}k+1 (frame_step {self.frame_step})")
        return self


class MemoryOptions(Strict):
    """Overrides: empty (null) = decided from the footprint and the card's free memory."""

    cpu_offload: bool | None = None
    vae_tiling: bool | None = None
    vae_slicing: bool | None = None


class CacheOptions(Strict):
    """Step caching (diffusers' cache hooks): reuse the denoiser's output where it barely changes between steps.

    Faster, but it changes the picture (quality-affecting: smeared motion, frozen details at high thresholds),
    so it is off unless a model entry turns it on after someone has looked at the results.
    """

    method: Literal["none", "first-block", "mag", "taylorseer"] = Field(
        "none", description="none | first-block (FirstBlockCache) | mag (MagCache: needs mag_ratios) | taylorseer")
    threshold: float = Field(0.05, gt=0, le=1, description="first-block, mag: the change below which a step's "
                                                          "computation is reused; higher = faster, more artefacts")
    mag_ratios: list[float] | None = Field(None, description="mag: the checkpoint's magnitude ratios, from one "
                                                             "calibration run (diffusers MagCacheConfig(calibrate=True))")
    max_skip_steps: int = Field(3, ge=1, description="mag: consecutive steps that may be reused")
    retention_ratio: float = Field(0.2, ge=0, le=1, description="mag: leading fraction of steps always computed")
    cache_interval: int = Field(5, ge=1, description="taylorseer: a full computation every n steps")
    disable_cache_before_step: int = Field(3, ge=0, description="taylorseer: steps always computed first")

    @model_validator(mode="after")
    def _mag_needs_ratios(self) -> "CacheOptions":
        if self.method == "mag" and not self.mag_ratios:
            raise ValueError("cache method 'mag' needs mag_ratios (they are per checkpoint): run diffusers' "
                             "MagCacheConfig(calibrate=True) once and paste the printed ratios, or use first-block")
        return self

    def describe(self) -> str:
        if self.method == "none":
            return "off"
        if self.method == "taylorseer":
            return f"taylorseer (interval {self.cache_interval}, from step {self.disable_cache_before_step})"
        return f"{self.method} (threshold {self.threshold:g})"

    def config(self, steps: int):
        """The diffusers cache config (None when off). `steps` is what MagCache interpolates its ratios to."""
        if self.method == "none":
            return None
        import diffusers.hooks as hooks

        if self.method == "first-block":
            return hooks.FirstBlockCacheConfig(threshold=self.threshold)
        if self.method == "mag":
            return hooks.MagCacheConfig(threshold=self.threshold, max_skip_steps=self.max_skip_steps,
                                        retention_ratio=self.retention_ratio, num_inference_steps=steps,
                                        mag_ratios=list(self.mag_ratios or []))
        import torch

        return hooks.TaylorSeerCacheConfig(cache_interval=self.cache_interval,
                                           disable_cache_before_step=self.disable_cache_before_step,
                                           taylor_factors_dtype=torch.float32)


class SpeedOptions(Strict):
    """How the denoiser runs faster. Compile and attention apply on CUDA only (skipped on CPU, with the reason)."""

    compile: Literal["none", "regional", "full"] = Field(
        "none", description="regional = torch.compile each repeated transformer block once (seconds to compile); "
                            "full = the whole denoiser (a minute or more); none")
    attention: str | None = Field(None, description="diffusers attention backend (e.g. _native_cudnn, flash, sage); "
                                                    "auto = time the exact backends installed at the model's real "
                                                    "shape once per card and use the fastest (cached on disk); "
                                                    "empty = PyTorch's own choice")
    cache: CacheOptions = Field(default_factory=CacheOptions)

    @model_validator(mode="before")
    @classmethod
    def _older_registries(cls, data):
        """`compile: true/false` and `first_block_cache: <threshold>` from registries written before these options."""
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("compile"), bool):
                data["compile"] = "full" if data["compile"] else "none"
            if "first_block_cache" in data:
                threshold = data.pop("first_block_cache")
                if threshold and "cache" not in data:
                    data["cache"] = {"method": "first-block", "threshold": threshold}
        return data


class LoraSpec(Strict):
    """A LoRA merged into the model at load, e.g. a step- and CFG-distilled one that makes a clip in 4 steps."""

    path: Path = Field(description="folder holding the weights (relative: under MICRODRAMA_MODELS_DIR)")
    weight_name: str | None = Field(None, description="the .safetensors file in that folder")
    hub_id: str = Field("", description="where to download it on a connected machine")
    licence: str = Field(min_length=1, description="the LoRA's own licence, as on its model card")
    scale: float = Field(1.0, description="adapter weight")
    steps: int | None = Field(None, ge=1, description="denoising steps it was distilled for (overrides the model's)")
    guidance: float | None = Field(None, ge=0, description="guidance it was made for; 1.0 = CFG-free (one forward "
                                                          "per step)")

    def folder(self) -> Path:
        return model_folder(self.path)


class ModelSpec(Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    kind: Literal["text-to-image", "text-to-video", "image-to-video"]
    pipeline: str = Field(description="diffusers pipeline class, e.g. WanPipeline")
    hub_id: str = Field("", description="where to download it on a connected machine")
    local_path: Path
    licence: str = Field(min_length=1, description="the model's own licence, as on its model card")
    dtype: Literal["float32", "float16", "bfloat16"] = "bfloat16"
    defaults: ModelDefaults
    footprint_gb: float | None = Field(None, gt=0, description="measured peak GPU memory with every component "
                                                                "on the GPU, at the default size; empty = unknown")
    offload_footprint_gb: float | None = Field(None, gt=0, description="measured (or estimated) peak with model CPU "
                                                                        "offload: the largest component + activations")
    continue_with: str | None = Field(None, description="image-to-video model id that continues a shot longer than "
                                                         "one clip from its last frame")
    memory: MemoryOptions = Field(default_factory=MemoryOptions)
    speed: SpeedOptions = Field(default_factory=SpeedOptions)
    lora: list[LoraSpec] = Field(default_factory=list, description="LoRAs merged in at load, with the steps and "
                                                                   "guidance they imply")

    @model_validator(mode="after")
    def _loras_agree(self) -> "ModelSpec":
        for what in ("steps", "guidance"):
            values = {getattr(lo, what) for lo in self.lora} - {None}
            if len(values) > 1:
                raise ValueError(f"model '{self.id}': its LoRAs imply different {what} ({sorted(values)}); "
                                 f"keep one distilled LoRA per entry")
        return self

    def folder(self) -> Path:
        return model_folder(self.local_path)

    def steps(self) -> int:
        """Default denoising steps: a distilled LoRA's, else the model's."""
        return next((lo.steps for lo in self.lora if lo.steps), self.defaults.steps)

    def guidance(self) -> float:
        """Guidance scale: a distilled LoRA's (1.0 = CFG-free), else the model's."""
        return next((lo.guidance for lo in self.lora if lo.guidance is not None), self.defaults.guidance)


class ModelRegistry(Strict):
    models: list[ModelSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "ModelRegistry":
        ids = [m.id for m in self.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"model ids must be unique: {', '.join(dupes)}")
        kinds = {m.id: m.kind for m in self.models}
        for m in self.models:
            if m.continue_with and kinds.get(m.continue_with) != "image-to-video":
                raise ValueError(f"model '{m.id}': continue_with '{m.continue_with}' must name an image-to-video "
                                 f"model in this registry")
        return self

    @classmethod
    def load(cls, path: str | Path | None = None) -> "ModelRegistry":
        from microdrama.assets import ASSETS_DIR

        return load_model(cls, Path(path) if path else ASSETS_DIR / "models" / "registry.yaml")

    def get(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        raise InputError(f"no model '{model_id}' in the registry; known: {', '.join(m.id for m in self.models)}")


def check_folder(spec: ModelSpec) -> Path:
    """The model folder, or an error saying what is missing and how to get it."""
    folder = spec.folder()
    fetch = (f"On a connected machine: `huggingface-cli download {spec.hub_id} --local-dir {folder}`, then copy the "
             f"folder to this machine (or set {ENV_MODELS_DIR}).") if spec.hub_id else ""
    index = folder / "model_index.json"
    if not index.is_file():
        raise InputError(f"model '{spec.id}' is not at {folder}: expected a diffusers folder with model_index.json "
                         f"and one sub-folder per component. {fetch}")
    import json

    components = [k for k, v in json.loads(index.read_text()).items()
                  if not k.startswith("_") and isinstance(v, list) and v[0] is not None]
    missing = [c for c in components if not (folder / c).is_dir()]
    if missing:
        raise InputError(f"model '{spec.id}' at {folder} is incomplete: missing {', '.join(missing)} "
                         f"(model_index.json lists {', '.join(components)}). {fetch}")
    return folder



def check_lora(spec: ModelSpec, lora: LoraSpec) -> Path:
    """The LoRA folder, or an error saying what is missing and how to get it."""
    folder = lora.folder()
    target = folder / lora.weight_name if lora.weight_name else folder
    if not target.exists() or (target.is_dir() and not any(target.glob("*.safetensors"))):
        fetch = (f" On a connected machine: `huggingface-cli download {lora.hub_id}"
                 f"{' ' + lora.weight_name if lora.weight_name else ''} --local-dir {folder}`, then copy it here."
                 if lora.hub_id else "")
        raise InputError(f"model '{spec.id}': LoRA {lora.weight_name or '(*.safetensors)'} is not in {folder}.{fetch}")
    return folder


HEADROOM = 1.1  # allocator fragmentation and the odd larger shot: a model "fits" with 10% to spare


class MemoryPlan(Strict):
    cpu_offload: Literal["none", "model", "sequential"]
    vae_tiling: bool
    vae_slicing: bool
    reason: str

    def describe(self) -> str:
        flags = [f"cpu offload {self.cpu_offload}", f"vae tiling {'on' if self.vae_tiling else 'off'}",
                 f"vae slicing {'on' if self.vae_slicing else 'off'}"]
        return f"{', '.join(flags)} ({self.reason})"


def memory_plan(footprint_gb: float | None, free_gb: float | None, hints: MemoryOptions | None = None,
                offload_footprint_gb: float | None = None) -> MemoryPlan:
    """Offload and tiling only when the model does not fit: each costs seconds per shot for nothing otherwise.

    `free_gb` None means a CPU run (nothing to offload to). A model that fits with HEADROOM runs fully on the
    GPU; one that does not moves whole components to the GPU in turn (model offload) and decodes in tiles;
    when even its largest component does not fit, layers are streamed (sequential offload, slow but it runs).
    A registry value (`hints`) overrides the decision it names.
    """
    hints = hints or MemoryOptions()
    if free_gb is None:
        plan = MemoryPlan(cpu_offload="none", vae_tiling=False, vae_slicing=False, reason="CPU run")
    elif footprint_gb is None:
        plan = MemoryPlan(cpu_offload="none", vae_tiling=False, vae_slicing=False,
                          reason=f"footprint unknown, {free_gb:.1f} GB free; set footprint_gb in the registry")
    elif footprint_gb * HEADROOM <= free_gb:
        plan = MemoryPlan(cpu_offload="none", vae_tiling=False, vae_slicing=False,
                          reason=f"fits: {footprint_gb:g} GB needed, {free_gb:.1f} GB free")
    else:
        # Without a measured offload peak, assume the denoiser (the largest component) is ~2/3 of the total.
        offload_gb = offload_footprint_gb or footprint_gb * 2 / 3
        sequential = offload_gb * HEADROOM > free_gb
        plan = MemoryPlan(cpu_offload="sequential" if sequential else "model", vae_tiling=True,
                          vae_slicing=sequential,
                          reason=f"does not fit: {footprint_gb:g} GB needed, {free_gb:.1f} GB free"
                                 + (f"; largest part ~{offload_gb:.1f} GB does not fit either" if sequential else ""))
    overrides = []
    if hints.cpu_offload is not None and (hints.cpu_offload != (plan.cpu_offload != "none")):
        plan = plan.model_copy(update={"cpu_offload": "model" if hints.cpu_offload else "none"})
        overrides.append(f"cpu_offload={str(hints.cpu_offload).lower()}")
    for name in ("vae_tiling", "vae_slicing"):
        value = getattr(hints, name)
        if value is not None and value != getattr(plan, name):
            plan = plan.model_copy(update={name: value})
            overrides.append(f"{name}={str(value).lower()}")
    if overrides:
        plan = plan.model_copy(update={"reason": f"{plan.reason}; registry sets {', '.join(overrides)}"})
    return plan


def free_memory_gb(device: str) -> float | None:
    """Free memory on a CUDA device now (None on CPU)."""
    torch = require("torch", extra="diffusion", purpose="Diffusion models")
    if not (device.startswith("cuda") and torch.cuda.is_available()):
        return None
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return free / 2**30


def device_name(device: str) -> str:
    torch = require("torch", extra="diffusion", purpose="Diffusion models")
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} {torch.cuda.get_device_name(torch.device(device))}"
    return "cpu"


def pick_device(requested: str) -> str:
    torch = require("torch", extra="diffusion", purpose="Diffusion models")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device 'cuda' was requested but no CUDA GPU is visible; use device: cpu (slow) or auto")
    return requested



class AttentionChoice(Strict):
    """`attention: auto` as decided: the fastest backend and what each candidate measured (or why it could not run)."""

    backend: str | None = Field(description="the fastest backend; empty = none ran, PyTorch's own choice is used")
    key: str = Field(description="what the measurement holds for: model, attention shape, GPU, torch and diffusers")
    timings_ms: dict[str, float] = Field(default_factory=dict, description="milliseconds per attention call")
    failed: dict[str, str] = Field(default_factory=dict, description="candidates that could not run, and why")
    cached: bool = Field(False, description="true = read from the on-disk cache, not measured in this process")

    def describe(self) -> str:
        ms = ", ".join(f"{name} {t:.3g} ms" for name, t in sorted(self.timings_ms.items(), key=lambda kv: kv[1]))
        return f"auto → {self.backend or 'default'} ({'cached' if self.cached else 'measured'}: {ms or 'none ran'})"


class SpeedPlan(Strict):
    """What was done to make the denoiser faster, and what was skipped and why (for the log and the record)."""

    compile: Literal["none", "regional", "full"]
    attention: str | None
    cache: str
    loras: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    attention_choice: AttentionChoice | None = Field(None, description="how `attention: auto` was decided")

    def describe(self) -> str:
        attention = self.attention_choice.describe() if self.attention_choice else self.attention or "default"
        parts = [f"compile {self.compile}", f"attention {attention}", f"cache {self.cache}"]
        if self.loras:
            parts.append(f"lora {', '.join(self.loras)}")
        return ", ".join(parts) + (f" (skipped: {'; '.join(self.skipped)})" if self.skipped else "")


def speed_plan(speed: SpeedOptions, device: str) -> SpeedPlan:
    """Compile and attention backends are CUDA kernels: on any other device they are skipped, with the reason.

    The cache hooks are plain PyTorch and apply everywhere (they change the output, so CPU tests see them).
    """
    skipped = []
    compile_, attention = speed.compile, speed.attention
    if not device.startswith("cuda"):
        if compile_ != "none":
            skipped.append(f"{compile_} compile: {device} run (CUDA only)")
        if attention:
            skipped.append(f"attention {attention}: {device} run (CUDA only)")
        compile_, attention = "none", None
    return SpeedPlan(compile=compile_, attention=attention, cache=speed.cache.describe(), skipped=skipped)


# Exact attention backends `auto` times (those not installed fail their check and are skipped with the reason).
# Sage attention is left out: it quantises to 8 bits, which changes the picture; name it to use it.
ATTENTION_CANDIDATES = ("native", "_native_cudnn", "_native_flash", "_native_efficient", "flash", "_flash_3",
                        "xformers")


def attention_cache_path() -> Path:
    """Where `auto` keeps its decisions: measured once per card and setup, not once per process."""
    from microdrama.env import cache_dir

    return cache_dir() / "attention.json"


def choose_attention(key: str, candidates, time_ms, cache: Path | None = None) -> AttentionChoice:
    """Time each candidate with `time_ms(name) -> ms per call` and keep the fastest; a cached decision skips it all.

    A candidate that raises (not installed, unsupported dtype or head size) is recorded with the reason and
    left out. `cache` is a JSON file of decisions by `key`, written atomically (None: no cache).
    """
    import json

    from microdrama.files import atomic_write_text

    known: dict = {}
    if cache is not None and cache.is_file():
        try:
            known = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}  # a damaged cache is measured again and rewritten
        if key in known:
            try:
                return AttentionChoice.model_validate({**known[key], "key": key, "cached": True})
            except ValueError:
                pass
    timings, failed = {}, {}
    for name in candidates:
        try:
            timings[name] = round(float(time_ms(name)), 4)
        except Exception as exc:  # noqa: BLE001 - any failure just rules the backend out, with its reason
            lines = str(exc).strip().splitlines()
            failed[name] = f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
    best = min(timings, key=timings.__getitem__) if timings else None
    choice = AttentionChoice(backend=best, key=key, timings_ms=timings, failed=failed)
    if cache is not None and best is not None:  # nothing ran: try again next time (a driver may be fixed)
        known[key] = choice.model_dump(exclude={"key", "cached"})
        atomic_write_text(cache, json.dumps(known, indent=1, sort_keys=True))
    return choice


def attention_shape(pipe, width: int, height: int, frames: int) -> tuple[int, int, int, int] | None:
    """(batch, tokens, heads, head dim) of the denoiser's self-attention for a clip, or None if it cannot tell.

    Tokens = latent frames × latent height × latent width over the patch size; batch 1 (Wan runs the
    conditional and unconditional passes one after the other).
    """
    denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
    config = getattr(denoiser, "config", None)
    heads, dim = getattr(config, "num_attention_heads", None), getattr(config, "attention_head_dim", None)
    if not isinstance(heads, int) or not isinstance(dim, int):
        return None
    spatial = (getattr(pipe, "vae_scale_factor_spatial", None) or getattr(pipe, "vae_spatial_compression_ratio", None)
               or 8)
    temporal = (getattr(pipe, "vae_scale_factor_temporal", None)
                or getattr(pipe, "vae_temporal_compression_ratio", None) or 1)
    patch = getattr(config, "patch_size", 1)
    pt, ph, pw = tuple(patch) if isinstance(patch, (list, tuple)) else (getattr(config, "patch_size_t", 1) or 1,
                                                                       patch, patch)
    latent_frames = (max(1, frames) - 1) // temporal + 1
    tokens = -(-latent_frames // pt) * (height // spatial // ph) * (width // spatial // pw)
    return (1, tokens, heads, dim) if tokens > 0 else None


def attention_timer(shape: tuple[int, ...], dtype, device: str, calls: int = 3):
    """A `time_ms(name)` for `choose_attention`: one warm-up and `calls` timed calls of diffusers' attention at
    `shape` (batch, tokens, heads, head dim), synchronised on CUDA. A backend whose output differs from
    PyTorch's own is refused, so a broken kernel can never win by being fast."""
    torch = require("torch", extra="diffusion", purpose="Diffusion models")
    from diffusers.models import attention_dispatch as dispatch

    generator = torch.Generator(device="cpu").manual_seed(0)
    q, k, v = (torch.randn(*shape, generator=generator).to(device=device, dtype=dtype) for _ in range(3))

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    with torch.inference_mode():
        reference = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2).float()

    def time_ms(name: str) -> float:
        backend = dispatch.AttentionBackendName(name)
        dispatch._check_attention_backend_requirements(backend)
        if backend not in dispatch._AttentionBackendRegistry._backends:
            raise RuntimeError("not registered in this diffusers")
        with torch.inference_mode():
            out = dispatch.dispatch_attention_fn(q, k, v, backend=backend)
            error = ((out.float() - reference).abs().max() / reference.abs().max()).item()
            if not error < (1e-3 if dtype == torch.float32 else 5e-2):
                raise RuntimeError(f"output differs from PyTorch's by {error:.3g} of its largest value")
            sync()
            t0 = time.perf_counter()
            for _ in range(calls):
                dispatch.dispatch_attention_fn(q, k, v, backend=backend)
            sync()
        return (time.perf_counter() - t0) * 1000 / calls

    return time_ms


def _kernel_versions() -> str:
    """Attention kernel packages installed (part of the cache key: installing flash-attn changes the answer)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("flash-attn", "flash-attn-3", "xformers"):
        try:
            found.append(f" {package} {version(package)}")
        except PackageNotFoundError:
            pass
    return "".join(found)


def resolve_attention(plan: SpeedPlan, spec: ModelSpec, pipe, device: str, *, time_ms=None, gpu: str | None = None,
                      cache: Path | None = None) -> SpeedPlan:
    """`attention: auto` becomes the backend measured fastest at this model's default clip on this card.

    `time_ms` and `gpu` stand in for the real timer and card name in tests; `cache` defaults to
    `attention_cache_path()`. A shape it cannot tell, or no backend that runs, leaves PyTorch's choice, with
    the reason in `skipped`.
    """
    if plan.attention != "auto":
        return plan
    torch = require("torch", extra="diffusion", purpose="Diffusion models")
    import diffusers

    d = spec.defaults
    shape = attention_shape(pipe, d.width, d.height, d.frames)
    denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
    if shape is None:
        reason = (f"attention auto: cannot tell {type(denoiser).__name__}'s attention shape; name a backend in "
                  "speed.attention")
        return plan.model_copy(update={"attention": None, "skipped": [*plan.skipped, reason]})
    dtype = getattr(torch, spec.dtype)
    gpu = gpu or torch.cuda.get_device_name(torch.device(device))
    key = (f"{spec.id} | {'x'.join(map(str, shape))} {spec.dtype} | {gpu} | "
           f"torch {torch.__version__} diffusers {diffusers.__version__}{_kernel_versions()}")
    choice = choose_attention(key, ATTENTION_CANDIDATES, time_ms or attention_timer(shape, dtype, device),
                              attention_cache_path() if cache is None else cache)
    log.info("%s on %s: attention %s%s", spec.id, device, choice.describe(),
             f"; not run: {'; '.join(f'{k} ({v})' for k, v in choice.failed.items())}" if choice.failed else "")
    none_ran = f"attention auto: no candidate backend ran ({'; '.join(choice.failed.values())})"
    skipped = plan.skipped if choice.backend else [*plan.skipped, none_ran]
    return plan.model_copy(update={"attention": choice.backend, "attention_choice": choice, "skipped": skipped})


def apply_speed(denoiser, plan: SpeedPlan, cache_config=None) -> SpeedPlan:
    """Apply a speed plan to the denoiser (cache hooks first: compiling captures them). Returns the plan as done."""
    skipped = list(plan.skipped)
    name = type(denoiser).__name__
    if cache_config is not None:
        if not hasattr(denoiser, "enable_cache"):
            raise InputError(f"{name} has no cache hooks in this diffusers version; set speed.cache.method: none")
        denoiser.enable_cache(cache_config)
    if plan.attention == "auto":  # resolve_attention measures it (it needs the pipeline and the card)
        skipped.append("attention auto: not measured (resolve_attention was not run)")
        plan = plan.model_copy(update={"attention": None})
    if plan.attention:
        from diffusers.models.attention_dispatch import AttentionBackendName

        known = [b.value for b in AttentionBackendName]
        if plan.attention not in known:
            raise InputError(f"speed.attention '{plan.attention}' is not a diffusers attention backend; known: "
                             f"auto, {', '.join(known)} (or leave it empty for PyTorch's choice)")
        denoiser.set_attention_backend(plan.attention)
    compile_ = plan.compile
    if compile_ == "regional":
        if getattr(denoiser, "_repeated_blocks", None):
            denoiser.compile_repeated_blocks(fullgraph=True)
        else:
            skipped.append(f"regional compile: {name} declares no repeated blocks")
            compile_ = "none"
    elif compile_ == "full":
        denoiser.compile()
    return plan.model_copy(update={"compile": compile_, "skipped": skipped})


def load_loras(pipe, spec: ModelSpec) -> list[str]:
    """Load the entry's LoRAs from their local folders and fuse them (no per-step cost after)."""
    names = []
    for i, lora in enumerate(spec.lora):
        folder = check_lora(spec, lora)
        require("peft", extra="diffusion", purpose=f"LoRAs (model '{spec.id}')")
        name = f"lora{i}"
        pipe.load_lora_weights(str(folder), weight_name=lora.weight_name, adapter_name=name)
        names.append(name)
    if names:
        pipe.set_adapters(names, adapter_weights=[lo.scale for lo in spec.lora])
        pipe.fuse_lora(adapter_names=names, lora_scale=1.0)
        pipe.unload_lora_weights()
    return [f"{lo.weight_name or lo.folder().name} ×{lo.scale:g} ({lo.licence})" for lo in spec.lora]


class LoadRecord(Strict):
    """How the resident pipeline was set up: memory, speed, LoRAs, and how long loading took."""

    memory: MemoryPlan
    speed: SpeedPlan
    load_seconds: float


_resident: dict[tuple, object] = {}
_plans: dict[int, LoadRecord] = {}
_lock = threading.Lock()
log = logging.getLogger("microdrama.diffusion")


def _resident_key(spec: ModelSpec, device: str) -> tuple:
    return (str(spec.folder().resolve()), spec.dtype, device, spec.memory.model_dump_json(),
            spec.speed.model_dump_json(), tuple(lo.model_dump_json() for lo in spec.lora), spec.steps())


def resident_plan(spec: ModelSpec, device: str) -> MemoryPlan | None:
    """The memory plan the resident pipeline of this model was loaded with (None before loading)."""
    record = resident_record(spec, device)
    return record.memory if record else None


def resident_record(spec: ModelSpec, device: str) -> LoadRecord | None:
    """How the resident pipeline of this model was set up (None before loading)."""
    pipe = _resident.get(_resident_key(spec, device))
    return _plans.get(id(pipe)) if pipe is not None else None


def resident_pipeline(spec: ModelSpec, device: str):
    """Load once per process and configuration; every later shot reuses it (loading takes minutes).

    The memory plan is made here, once, from the free memory before loading: after loading, the model's
    own weights would make it look as if it did not fit.
    """
    key = _resident_key(spec, device)
    with _lock:
        if key in _resident:
            return _resident[key]
        folder = check_folder(spec)
        for lora in spec.lora:
            check_lora(spec, lora)
        torch = require("torch", extra="diffusion", purpose="Diffusion models")
        diffusers = require("diffusers", extra="diffusion", purpose="Diffusion models")
        os.environ["HF_HUB_OFFLINE"] = "1"
        t0 = time.perf_counter()
        dtype = getattr(torch, spec.dtype) if device != "cpu" else torch.float32
        pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
        if type(pipe).__name__ != spec.pipeline:
            raise InputError(f"model '{spec.id}' at {folder} loads as {type(pipe).__name__}, "
                             f"but the registry says {spec.pipeline}; fix the registry or the folder")
        pipe.set_progress_bar_config(disable=True)
        loras = load_loras(pipe, spec)  # before placement: offload hooks and fused weights do not mix
        plan = memory_plan(spec.footprint_gb, free_memory_gb(device), spec.memory, spec.offload_footprint_gb)
        if not device.startswith("cuda"):
            plan = plan.model_copy(update={"cpu_offload": "none"})  # nothing to offload to
        log.info("%s on %s: %s", spec.id, device, plan.describe())
        if plan.cpu_offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        elif plan.cpu_offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        vae = getattr(pipe, "vae", None)
        if plan.vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if plan.vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
        denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
        speed = resolve_attention(speed_plan(spec.speed, device), spec, pipe, device)
        speed = apply_speed(denoiser, speed, spec.speed.cache.config(spec.steps()))
        speed = speed.model_copy(update={"loras": loras})
        log.info("%s on %s: %s", spec.id, device, speed.describe())
        _resident[key] = pipe
        _plans[id(pipe)] = LoadRecord(memory=plan, speed=speed, load_seconds=round(time.perf_counter() - t0, 3))
        return pipe


_use_locks: dict[int, threading.Lock] = {}


@contextlib.contextmanager
def using(spec: ModelSpec, device: str):
    """The resident pipeline, held exclusively: a diffusers pipeline (its scheduler) is not thread-safe."""
    pipe = resident_pipeline(spec, device)
    with _lock:
        lock = _use_locks.setdefault(id(pipe), threading.Lock())
    with lock:
        yield pipe


class GpuMeter:
    """GPU seconds and peak GPU memory of one call (peak None on CPU: there is no GPU memory to measure)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> "GpuMeter":
        torch = require("torch", extra="diffusion", purpose="Diffusion models")
        self.cuda = self.device.startswith("cuda") and torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
            torch.cuda.synchronize(self.device)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        torch = require("torch", extra="diffusion", purpose="Diffusion models")
        if self.cuda:
            torch.cuda.synchronize(self.device)
        self.seconds = time.perf_counter() - self.t0
        self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.cuda else None


def seed_for(base: int, key: str) -> int:
    """A fixed seed per shot or character, derived from the run seed and a stable key."""
    return (base * 1_000_003 + int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)) % (2**31)


class DiffusersOptions(Strict):
    """What every diffusers skill is told: which registered model, on which device, from which seed."""

    model: str = Field(description="registry id of the model")
    registry: Path | None = Field(None, description="model registry YAML; default: the bundled one")
    device: str = Field("auto", description="cuda, cuda:1, cpu or auto")
    seed: int = Field(0, description="run seed; each shot or character derives its own from it")
    steps: int | None = Field(None, ge=1, description="override the model's default denoising steps")
