"""The image/video model registry and the one resident diffusers pipeline per process.

Models are data (`assets/models/registry.yaml`): pipeline class, local folder, dtype, default 9:16
size, frames and steps, memory options (CPU offload, VAE tiling/slicing), speed options
(torch.compile, diffusers' FirstBlockCache) and licence. Loading is always
`DiffusionPipeline.from_pretrained(local_dir)` with the hub switched off; a missing or incomplete
folder is an error that lists what is expected and how to fetch it on a connected machine.
"""

from __future__ import annotations

import contextlib
import hashlib
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
    frames: int = Field(1, ge=1)
    steps: int = Field(ge=1)
    fps: int = Field(16, ge=1)
    guidance: float = Field(5.0, ge=0)


class MemoryOptions(Strict):
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False


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
_lock = threading.Lock()


def resident_pipeline(spec: ModelSpec, device: str):
    """Load once per process and configuration; every later shot reuses it (loading takes minutes)."""
    key = (str(spec.folder().resolve()), spec.dtype, device, spec.memory.model_dump_json(), spec.speed.model_dump_json())
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
        if spec.memory.cpu_offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        vae = getattr(pipe, "vae", None)
        if spec.memory.vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if spec.memory.vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
        denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
        if spec.speed.first_block_cache and hasattr(denoiser, "enable_cache"):
            from diffusers.hooks import FirstBlockCacheConfig

            denoiser.enable_cache(FirstBlockCacheConfig(threshold=spec.speed.first_block_cache))
        if spec.speed.compile and device.startswith("cuda"):
            denoiser.compile()
        _resident[key] = pipe
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
