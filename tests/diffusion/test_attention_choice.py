"""`speed.attention: auto`: the attention backend chosen by measurement, once per card, with fake timings on CPU."""

import json

import pytest

import microdrama.diffusion_registry as diffusion_registry
from microdrama.diffusion_registry import (
    ATTENTION_CANDIDATES,
    ModelRegistry,
    SpeedOptions,
    apply_speed,
    attention_shape,
    attention_timer,
    choose_attention,
    resident_record,
    resolve_attention,
    speed_plan,
    using,
)
from tests.diffusion.test_speed_and_lora import FakeDenoiser

FAKE_MS = {"native": 9.0, "_native_cudnn": 6.5, "_native_flash": 7.25, "_native_efficient": 11.0}


def fake_timer(calls: list):
    """Milliseconds as a card might measure them; backends not installed raise as diffusers' check does."""
    def time_ms(name: str) -> float:
        calls.append(name)
        if name not in FAKE_MS:
            raise RuntimeError(f"Backend '{name}' is not usable because of missing package.\nsecond line")
        return FAKE_MS[name]

    return time_ms


def test_the_fastest_backend_wins_and_failures_are_recorded_with_their_reason(tmp_path):
    calls = []
    choice = choose_attention("m | 1x28x2x12 | card", ATTENTION_CANDIDATES, fake_timer(calls), tmp_path / "a.json")
    assert choice.backend == "_native_cudnn" and not choice.cached
    assert choice.timings_ms == FAKE_MS and calls == list(ATTENTION_CANDIDATES)
    assert choice.failed["flash"] == "RuntimeError: Backend 'flash' is not usable because of missing package."
    assert "sage" not in calls  # 8-bit quantised: changes the picture, so never picked behind the user's back
    assert choice.describe().startswith("auto → _native_cudnn (measured: _native_cudnn 6.5 ms, _native_flash 7.25 ms")


def test_a_cached_decision_is_not_measured_again_and_keys_keep_cards_apart(tmp_path):
    cache = tmp_path / "attention.json"
    first = choose_attention("m | shape | H100", ATTENTION_CANDIDATES, fake_timer([]), cache)
    calls = []
    again = choose_attention("m | shape | H100", ATTENTION_CANDIDATES, fake_timer(calls), cache)
    assert calls == [] and again.cached and (again.backend, again.timings_ms) == (first.backend, first.timings_ms)
    other = choose_attention("m | shape | H200", ["native"], fake_timer(calls), cache)
    assert calls == ["native"] and other.backend == "native" and not other.cached
    assert set(json.loads(cache.read_text())) == {"m | shape | H100", "m | shape | H200"}
    cache.write_text("{not json")  # a damaged cache is measured again, not an error
    assert not choose_attention("m | shape | H100", ["native"], fake_timer([]), cache).cached


def test_when_nothing_runs_pytorchs_choice_stays_and_nothing_is_cached(tmp_path):
    cache = tmp_path / "attention.json"
    choice = choose_attention("k", ["flash", "xformers"], fake_timer([]), cache)
    assert choice.backend is None and set(choice.failed) == {"flash", "xformers"} and not cache.exists()


def test_auto_is_skipped_off_cuda_with_the_reason_and_never_applied_unmeasured():
    plan = speed_plan(SpeedOptions(attention="auto"), "cpu")
    assert plan.attention is None and plan.skipped == ["attention auto: cpu run (CUDA only)"]
    denoiser = FakeDenoiser()
    done = apply_speed(denoiser, speed_plan(SpeedOptions(attention="auto"), "cuda"))
    assert denoiser.calls == [] and done.attention is None and "not measured" in done.skipped[0]


def test_the_bundled_wan_entries_choose_their_attention_by_measurement():
    for spec in ModelRegistry.load().models:
        if spec.id.startswith("wan"):
            assert spec.speed.attention == "auto", spec.id


def test_auto_measures_at_the_models_real_shape_on_a_card_and_applies_the_winner(tiny_models, tmp_path):
    _, registry = tiny_models
    spec = ModelRegistry.load(registry).get("tiny-wan")
    spec = spec.model_copy(update={"speed": SpeedOptions(attention="auto")})
    with using(spec, "cpu") as pipe:
        # 25 frames at 32x32: 7 latent frames of 4x4, patches of 2x2 -> 28 tokens; 2 heads of 12
        assert attention_shape(pipe, 32, 32, 25) == (1, 28, 2, 12)
        plan = speed_plan(spec.speed, "cuda:0")  # what a CUDA run plans, measured here with a fake timer
        calls = []
        done = resolve_attention(plan, spec, pipe, "cuda:0", time_ms=fake_timer(calls), gpu="NVIDIA H100 80GB HBM3",
                                 cache=tmp_path / "attention.json")
    assert done.attention == "_native_cudnn" and done.attention_choice.timings_ms["native"] == 9.0
    assert done.attention_choice.key.startswith("tiny-wan | 1x28x2x12 float32 | NVIDIA H100 80GB HBM3 | torch ")
    denoiser = FakeDenoiser()
    applied = apply_speed(denoiser, done)
    assert ("set_attention_backend", "_native_cudnn") in denoiser.calls
    record = applied.model_dump()  # what provider.json keeps for each take part
    assert record["attention"] == "_native_cudnn" and record["attention_choice"]["timings_ms"] == FAKE_MS
    assert "flash" in record["attention_choice"]["failed"]


def test_the_real_timer_runs_diffusers_attention_and_rules_out_what_is_not_installed():
    import torch

    time_ms = attention_timer((1, 16, 2, 8), torch.float32, "cpu", calls=2)
    assert time_ms("native") > 0 and time_ms("_native_math") > 0
    from diffusers.models.attention_dispatch import _CAN_USE_FLASH_ATTN

    if not _CAN_USE_FLASH_ATTN:  # flash-attn is not installed here: diffusers' own check says so
        with pytest.raises(RuntimeError, match="flash"):
            time_ms("flash")


def test_a_cpu_load_records_auto_as_skipped(tiny_models):
    _, registry = tiny_models
    spec = ModelRegistry.load(registry).get("tiny-wan").model_copy(
        update={"speed": SpeedOptions(attention="auto")})
    diffusion_registry.resident_pipeline(spec, "cpu")
    assert "attention auto: cpu run (CUDA only)" in resident_record(spec, "cpu").speed.skipped


def test_auto_falls_back_to_pytorchs_choice_with_the_reason_when_it_cannot_measure(tiny_models, tmp_path):
    from types import SimpleNamespace

    _, registry = tiny_models
    spec = ModelRegistry.load(registry).get("tiny-wan").model_copy(update={"speed": SpeedOptions(attention="auto")})
    plan = speed_plan(spec.speed, "cuda")
    opaque = SimpleNamespace(transformer=SimpleNamespace(config=SimpleNamespace()))  # no heads / head dim
    done = resolve_attention(plan, spec, opaque, "cuda", time_ms=fake_timer([]), gpu="card", cache=tmp_path / "a")
    assert done.attention is None and "cannot tell SimpleNamespace's attention shape" in done.skipped[0]
    wan = SimpleNamespace(vae_scale_factor_spatial=8, vae_scale_factor_temporal=4, transformer=SimpleNamespace(
        config=SimpleNamespace(num_attention_heads=2, attention_head_dim=12, patch_size=(1, 2, 2))))

    def broken(name):
        raise RuntimeError(f"{name} is broken")

    done = resolve_attention(plan, spec, wan, "cuda", time_ms=broken, gpu="card", cache=tmp_path / "a")
    assert done.attention is None and done.skipped[0].startswith("attention auto: no candidate backend ran")
    assert "attention auto → default (measured: none ran)" in done.describe()
