"""The image/video model registry and the one resident diffusers pipeline per process.

Models are data (`assets/models/registry.yaml`): pipeline class, local folder, dtype, default 9:16
size, frames and steps, measured memory footprint, speed options (torch.compile, diffusers'
FirstBlockCache) and licence. CPU offload and VAE tiling/slicing are chosen at load time from the
footprint and the card's free memory (`memory_plan`); registry memory values only override that. Loading is always
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
from microdrama.errors import InputError

ENV_MODELS_DIR = "MICRODRAMA_MODELS_DIR"


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


class SpeedOptions(Strict):
    compile: bool = Field(False, description="torch.compile the denoiser (slow first call, faster after)")
    first_block_cache: float = Field(0.0, ge=0, le=1, description="FirstBlockCache threshold; 0 = off")


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

    def folder(self) -> Path:
        if self.local_path.is_absolute():
            return self.local_path
        return Path(os.environ.get(ENV_MODELS_DIR, "models")) / self.local_path


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


_resident: dict[tuple, object] = {}
_plans: dict[int, MemoryPlan] = {}
_lock = threading.Lock()
log = logging.getLogger("microdrama.diffusion")


def _resident_key(spec: ModelSpec, device: str) -> tuple:
    return (str(spec.folder().resolve()), spec.dtype, device, spec.memory.model_dump_json(),
            spec.speed.model_dump_json())


def resident_plan(spec: ModelSpec, device: str) -> MemoryPlan | None:
    """The memory plan the resident pipeline of this model was loaded with (None before loading)."""
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
        torch = require("torch", extra="diffusion", purpose="Diffusion models")
        diffusers = require("diffusers", extra="diffusion", purpose="Diffusion models")
        os.environ["HF_HUB_OFFLINE"] = "1"
        dtype = getattr(torch, spec.dtype) if device != "cpu" else torch.float32
        pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
        if type(pipe).__name__ != spec.pipeline:
            raise InputError(f"model '{spec.id}' at {folder} loads as {type(pipe).__name__}, "
                             f"but the registry says {spec.pipeline}; fix the registry or the folder")
        pipe.set_progress_bar_config(disable=True)
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
        if spec.speed.first_block_cache and hasattr(denoiser, "enable_cache"):
            from diffusers.hooks import FirstBlockCacheConfig

            denoiser.enable_cache(FirstBlockCacheConfig(threshold=spec.speed.first_block_cache))
        if spec.speed.compile and device.startswith("cuda"):
            denoiser.compile()
        _resident[key] = pipe
        _plans[id(pipe)] = plan
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
    """GPU seconds, device and peak memory of one call (zeros on CPU)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> "GpuMeter":
        torch = require("torch", extra="diffusion", purpose="Diffusion models")
        self.cuda = self.device.startswith("cuda") and torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        torch = require("torch", extra="diffusion", purpose="Diffusion models")
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.t0
        self.peak_mb = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else 0.0


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
