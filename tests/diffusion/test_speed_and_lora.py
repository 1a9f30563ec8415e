"""Registry speed options on the tiny Wan pipeline: LoRAs, cache hooks, compile/attention decisions, peak memory."""

import json
from pathlib import Path

import numpy as np
import pytest

import microdrama.diffusion_registry as diffusion_registry
from microdrama.diffusion_registry import (
    CacheOptions,
    ModelRegistry,
    ModelSpec,
    SpeedOptions,
    apply_speed,
    check_lora,
    resident_record,
    speed_plan,
    using,
)
from microdrama.errors import InputError
from microdrama.skills.video_diffusers import DiffusersVideoRenderer
from microdrama.stages import VisualsInput
from tests.diffusion.conftest import TINY, TINY_VIDEO
from tests.diffusion.test_video_diffusers import render, shot

pytest.importorskip("peft")


@pytest.fixture(scope="module")
def speed_registry(tiny_models):
    """The tiny Wan model plain, with a distilled-style LoRA (3 steps, CFG-free), and with FirstBlockCache."""
    from tests.diffusion.tiny import build_tiny_wan_lora

    root, _ = tiny_models
    lora = root / "tiny-lora"
    if not lora.is_dir():
        build_tiny_wan_lora(root / "tiny-wan", lora)
    wan = {"kind": "text-to-video", "pipeline": "WanPipeline", "local_path": str(root / "tiny-wan"), **TINY,
           "defaults": {**TINY_VIDEO, "frames": 25, "fps": 8}}
    registry = root / "speed-registry.yaml"
    registry.write_text(json.dumps({"models": [
        {"id": "tiny-wan", **wan},
        {"id": "tiny-wan-fast", **wan, "lora": [{"path": str(lora), "weight_name": "tiny_lora.safetensors",
                                                 "licence": "test weights (random)", "steps": 3, "guidance": 1.0}]},
        {"id": "tiny-wan-fbc", **wan, "speed": {"cache": {"method": "first-block", "threshold": 1.0}}},
        {"id": "tiny-wan-mag", **wan, "speed": {"cache": {"method": "mag", "mag_ratios": [1.0, 1.0]}}},
        {"id": "tiny-wan-compiled", **wan, "speed": {"compile": "regional", "attention": "_native_cudnn"}},
    ]}), encoding="utf-8")
    return ModelRegistry.load(registry), registry


def frames(spec, steps=2, guidance=1.0):
    import torch

    with using(spec, "cpu") as pipe:
        return pipe(prompt="a woman in a white shirt", height=16, width=16, num_frames=5, num_inference_steps=steps,
                    guidance_scale=guidance, generator=torch.Generator().manual_seed(0), output_type="np").frames[0]


def test_a_lora_from_a_local_folder_changes_the_output(speed_registry):
    reg, _ = speed_registry
    assert not np.allclose(frames(reg.get("tiny-wan")), frames(reg.get("tiny-wan-fast")), atol=1e-4)
    record = resident_record(reg.get("tiny-wan-fast"), "cpu")
    assert record.speed.loras == ["tiny_lora.safetensors ×1 (test weights (random))"]


def test_a_distilled_lora_sets_its_steps_and_guidance_and_is_recorded(speed_registry, screenplay, tmp_path,
                                                                      monkeypatch):
    import diffusers

    _, registry = speed_registry
    calls = []
    original = diffusers.WanPipeline.__call__
    monkeypatch.setattr(diffusers.WanPipeline, "__call__", lambda self, **kw: calls.append(kw) or original(self, **kw))
    result, _ = render(screenplay, registry, tmp_path, model="tiny-wan-fast")
    assert [(c["num_inference_steps"], c["guidance_scale"]) for c in calls] == [(3, 1.0)]
    record = json.loads((Path(result.output.video).parent / "provider.json").read_text())
    part = record["parts"][0]
    assert (part["steps"], part["guidance"]) == (3, 1.0)
    assert part["lora"][0]["weight_name"] == "tiny_lora.safetensors" and part["lora"][0]["licence"]


def test_a_missing_lora_says_what_to_fetch(speed_registry, tmp_path):
    reg, _ = speed_registry
    spec = reg.get("tiny-wan-fast")
    lora = spec.lora[0].model_copy(update={"path": tmp_path / "absent", "hub_id": "lightx2v/Wan2.1-Distill-Loras"})
    with pytest.raises(InputError, match="huggingface-cli download lightx2v/Wan2.1-Distill-Loras tiny_lora"):
        check_lora(spec, lora)


def test_loras_that_imply_different_steps_are_refused(speed_registry):
    reg, _ = speed_registry
    data = reg.get("tiny-wan-fast").model_dump()
    data["lora"] = [data["lora"][0], {**data["lora"][0], "steps": 8}]
    with pytest.raises(ValueError, match="imply different steps"):
        ModelSpec.model_validate(data)


def test_first_block_cache_is_hooked_in_and_changes_the_picture(speed_registry):
    from diffusers.hooks import FirstBlockCacheConfig

    reg, _ = speed_registry
    cached = frames(reg.get("tiny-wan-fbc"), steps=4)
    with using(reg.get("tiny-wan-fbc"), "cpu") as pipe:
        assert isinstance(pipe.transformer._cache_config, FirstBlockCacheConfig)
        assert pipe.transformer._cache_config.threshold == 1.0
    assert not np.allclose(cached, frames(reg.get("tiny-wan"), steps=4), atol=1e-4)
    assert resident_record(reg.get("tiny-wan-fbc"), "cpu").speed.cache == "first-block (threshold 1)"


def test_cache_is_off_unless_an_entry_turns_it_on():
    assert all(m.speed.cache.method == "none" for m in ModelRegistry.load().models)
    assert SpeedOptions().cache.method == "none"
    with pytest.raises(ValueError, match="needs mag_ratios"):
        CacheOptions(method="mag")


def test_older_registry_speed_keys_still_load():
    assert SpeedOptions.model_validate({"compile": True, "first_block_cache": 0.05}) == SpeedOptions(
        compile="full", cache=CacheOptions(method="first-block", threshold=0.05))
    assert SpeedOptions.model_validate({"compile": False, "first_block_cache": 0.0}) == SpeedOptions()


def test_magcache_refuses_a_steps_override(speed_registry, screenplay):
    _, registry = speed_registry
    skill = DiffusersVideoRenderer()
    options = skill.parse_options({"model": "tiny-wan-mag", "registry": registry, "steps": 7})
    with pytest.raises(InputError, match="MagCache calibrated for 2 steps"):
        skill.check_inputs(VisualsInput(shot=shot(screenplay)), options)


class FakeDenoiser:
    """Records what a speed plan does to it (CUDA-only calls, checked without a GPU)."""

    _repeated_blocks = ["WanTransformerBlock"]

    def __init__(self):
        self.calls = []

    def compile_repeated_blocks(self, **kw):
        self.calls.append(("compile_repeated_blocks", kw))

    def compile(self):
        self.calls.append(("compile", {}))

    def set_attention_backend(self, name):
        self.calls.append(("set_attention_backend", name))


def test_compile_and_attention_apply_on_cuda():
    plan = speed_plan(SpeedOptions(compile="regional", attention="_native_cudnn"), "cuda:0")
    assert (plan.compile, plan.attention, plan.skipped) == ("regional", "_native_cudnn", [])
    denoiser = FakeDenoiser()
    done = apply_speed(denoiser, plan)
    assert denoiser.calls == [("set_attention_backend", "_native_cudnn"),
                              ("compile_repeated_blocks", {"fullgraph": True})]
    assert done.describe() == "compile regional, attention _native_cudnn, cache off"


def test_compile_and_attention_are_skipped_off_cuda_with_the_reason(speed_registry):
    plan = speed_plan(SpeedOptions(compile="regional", attention="flash"), "cpu")
    assert (plan.compile, plan.attention) == ("none", None)
    assert plan.skipped == ["regional compile: cpu run (CUDA only)", "attention flash: cpu run (CUDA only)"]
    denoiser = FakeDenoiser()
    apply_speed(denoiser, plan)
    assert denoiser.calls == []
    reg, _ = speed_registry  # the real load path records the same
    frames(reg.get("tiny-wan-compiled"))
    assert "regional compile: cpu run (CUDA only)" in resident_record(reg.get("tiny-wan-compiled"), "cpu").speed.skipped


def test_regional_compile_falls_back_to_nothing_without_repeated_blocks_and_unknown_backends_are_refused():
    class Unet(FakeDenoiser):
        _repeated_blocks = []

    denoiser = Unet()
    done = apply_speed(denoiser, speed_plan(SpeedOptions(compile="regional"), "cuda"))
    assert done.compile == "none" and "declares no repeated blocks" in done.skipped[0] and denoiser.calls == []
    with pytest.raises(InputError, match="not a diffusers attention backend"):
        apply_speed(FakeDenoiser(), speed_plan(SpeedOptions(attention="warp-drive"), "cuda"))


def test_peak_gpu_memory_is_recorded_on_cuda_and_absent_on_cpu(speed_registry, screenplay, tmp_path, monkeypatch):
    import microdrama.skills.video_diffusers as video

    _, registry = speed_registry
    cpu, _ = render(screenplay, registry, tmp_path / "cpu")
    assert "peak_gpu_memory_mb" not in cpu.usage.quantities
    assert json.loads((Path(cpu.output.video).parent / "provider.json").read_text())["peak_gpu_memory_mb"] is None

    class CudaMeter(diffusion_registry.GpuMeter):  # what a CUDA run measures, on this CPU
        def __exit__(self, *exc):
            self.seconds, self.peak_mb = 1.5, 8704.0

    monkeypatch.setattr(video, "GpuMeter", CudaMeter)
    gpu, _ = render(screenplay, registry, tmp_path / "gpu")
    assert gpu.usage.quantities["peak_gpu_memory_mb"] == 8704.0
    record = json.loads((Path(gpu.output.video).parent / "provider.json").read_text())
    assert record["peak_gpu_memory_mb"] == 8704.0 and record["parts"][0]["peak_gpu_memory_mb"] == 8704.0
    assert record["take"] == 1 and record["model"] == "tiny-wan"


def test_gpu_meter_reads_the_device_peak(monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: calls.append(("reset", d)))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 3 * 2**30)
    with diffusion_registry.GpuMeter("cuda:1") as meter:
        pass
    assert meter.peak_mb == 3072.0 and calls == [("reset", "cuda:1")]
    with diffusion_registry.GpuMeter("cpu") as meter:
        pass
    assert meter.peak_mb is None
