"""Benchmark: seconds per clip and per step, peak memory and achieved TFLOP/s of a Wan video model, side by side.

    python benchmarks/gpu_video.py --random-weights                     # GPU, real architecture, no download
    python benchmarks/gpu_video.py --random-weights --arch wan2.1-14b   # the 14B transformer (I2V's size)
    python benchmarks/gpu_video.py --smoke                              # CPU in seconds: checks the script

The model is built at its real architecture size with random weights (speed does not depend on weight
values, quality does), without the text encoder (random prompt embeddings of UMT5's shape stand in). One run
measures, on the same prompt embeddings and seed:

    baseline   the registry's steps with CFG (two forwards per step)
    compile    regional torch.compile of the repeated transformer blocks (CUDA; compile time reported)
    distilled  4 steps, guidance 1.0 (what a step/CFG-distilled LoRA runs: one forward per step) + regional compile
    offload    model CPU offload on (CUDA; the cost of offloading a model that fits)
    tiling     VAE tiling on (the decode cost of tiling)

and, beside the rows, what `speed.attention: auto` would choose on this card: each exact diffusers attention
backend installed, timed at the clip's self-attention shape (`attention_auto`, with the reason for those that
cannot run).

with, per row, seconds per clip (scaled to a 5-s clip at the model's fps where the clip is shorter), seconds
per step, VAE decode seconds and peak memory, and the weight-independent limit: achieved TFLOP/s of the
denoiser (FLOPs counted by torch's FlopCounterMode) against the card's measured bf16 matmul peak. A row that
cannot run on the device (compile and offload on CPU) is recorded as skipped with the reason. The JSON, with
hardware and library versions, goes to benchmarks/results/gpu_video[_smoke].json. Designed to finish in under
8 minutes on one H100 for the 1.3B model at 480x832, 81 frames.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Transformer configs of the released checkpoints (their transformer/config.json); the VAE is Wan2.1's default.
ARCHS = {
    "wan2.1-t2v-1.3b": {"transformer": dict(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30),
                        "vae": {}, "text_dim": 4096, "text_len": 512, "width": 480, "height": 832, "frames": 81,
                        "steps": 30, "fps": 16},
    "wan2.1-14b": {"transformer": dict(num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, num_layers=40),
                   "vae": {}, "text_dim": 4096, "text_len": 512, "width": 480, "height": 832, "frames": 81,
                   "steps": 30, "fps": 16},
    "smoke": {"transformer": dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32, num_layers=2,
                                  rope_max_seq_len=32),
              "vae": dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                          temperal_downsample=[False, True, True]),
              "text_dim": 32, "text_len": 8, "width": 16, "height": 16, "frames": 9, "steps": 2, "fps": 16},
}
ROWS = ("baseline", "compile", "distilled", "offload", "tiling")


def build(arch: dict, device: str, dtype):
    """A WanPipeline at the architecture's size, random weights, created in `dtype` directly on the device."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            transformer = WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=16, out_channels=16,
                                                text_dim=arch["text_dim"], freq_dim=256, cross_attn_norm=True,
                                                qk_norm="rms_norm_across_heads", **arch["transformer"])
    finally:
        torch.set_default_dtype(previous)
    with torch.device(device):
        vae = AutoencoderKLWan(**arch["vae"])  # float32: Wan decodes in float32
    pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def matmul_peak_tflops(device: str, dtype) -> float:
    """The card's measured dense matmul rate (the ceiling the denoiser's FLOPs are compared with)."""
    import torch

    n = 8192 if device == "cuda" else 512
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    sync(device)
    reps = 20 if device == "cuda" else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def forward_flops(pipe, arch: dict, device: str, dtype) -> float:
    """FLOPs of one denoiser forward at the clip's shape (counted, not estimated)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    t = pipe.transformer
    lat = ((arch["frames"] - 1) // pipe.vae_scale_factor_temporal + 1, arch["height"] // pipe.vae_scale_factor_spatial,
           arch["width"] // pipe.vae_scale_factor_spatial)
    x = torch.randn(1, t.config.in_channels, *lat, device=device, dtype=dtype)
    text = torch.randn(1, arch["text_len"], arch["text_dim"], device=device, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        t(hidden_states=x, timestep=torch.tensor([500], device=device), encoder_hidden_states=text)
    return float(counter.get_total_flops())


def attention_auto(arch: dict, device: str, dtype) -> dict:
    """What `speed.attention: auto` picks for this clip on this device (measured here, not cached)."""
    from types import SimpleNamespace

    from microdrama.diffusion_registry import ATTENTION_CANDIDATES, attention_shape, attention_timer, choose_attention

    t = arch["transformer"]
    wan = SimpleNamespace(vae_scale_factor_spatial=8, vae_scale_factor_temporal=4, transformer=SimpleNamespace(
        config=SimpleNamespace(num_attention_heads=t["num_attention_heads"], attention_head_dim=t["attention_head_dim"],
                               patch_size=(1, 2, 2))))
    shape = attention_shape(wan, arch["width"], arch["height"], arch["frames"])
    choice = choose_attention("benchmark", ATTENTION_CANDIDATES, attention_timer(shape, dtype, device), cache=None)
    return {"device": device, "shape": list(shape), "backend": choice.backend, "timings_ms": choice.timings_ms,
            "failed": choice.failed}


@contextmanager
def peak_memory(device: str):
    import torch

    box = {"gib": None}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    yield box
    if device == "cuda":
        box["gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)


def measure(pipe, arch: dict, device: str, dtype, steps: int, guidance: float, repeats: int) -> dict:
    """Best of `repeats` timed calls after one warm-up (which also compiles); step and decode times split."""
    import torch

    text = torch.randn(1, arch["text_len"], arch["text_dim"], generator=torch.Generator().manual_seed(1)).to(dtype)
    best, warmup = None, None
    for i in range(repeats + 1):
        marks: list[float] = []

        def step_end(_pipe, _step, _timestep, kwargs):
            sync(device)
            marks.append(time.perf_counter())
            return kwargs

        sync(device)
        t0 = time.perf_counter()
        with peak_memory(device) as peak:
            pipe(prompt_embeds=text.to(device), negative_prompt_embeds=(-text).to(device), width=arch["width"],
                 height=arch["height"], num_frames=arch["frames"], num_inference_steps=steps, guidance_scale=guidance,
                 generator=torch.Generator("cpu").manual_seed(0), output_type="np", callback_on_step_end=step_end)
            sync(device)
        end = time.perf_counter()
        run = {"seconds_per_clip": end - t0, "seconds_per_step": (marks[-1] - t0) / steps,
               "vae_decode_seconds": end - marks[-1], "peak_memory_gib": peak["gib"]}
        if i == 0:
            warmup = end - t0
        elif best is None or run["seconds_per_clip"] < best["seconds_per_clip"]:
            best = run
    assert best is not None
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in best.items()},
            "first_call_seconds": round(warmup, 3), "steps": steps, "guidance": guidance,
            "forwards_per_step": 2 if guidance > 1 else 1}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="wan2.1-t2v-1.3b", choices=[a for a in ARCHS if a != "smoke"])
    parser.add_argument("--random-weights", action="store_true", help="build the architecture with random weights "
                                                                      "(the only mode: no weights are downloaded)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: the model's 5-s clip)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"which of {', '.join(ROWS)}")
    parser.add_argument("--smoke", action="store_true", help="tiny architecture on CPU: checks the script, not a GPU")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    import torch

    arch = dict(ARCHS["smoke" if args.smoke else args.arch])
    arch["frames"] = args.frames or arch["frames"]
    arch["steps"] = args.steps or arch["steps"]
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    peak = matmul_peak_tflops(device, dtype)
    rows: dict[str, dict] = {}
    flops = None
    for name in [r for r in args.rows.split(",") if r]:
        if name not in ROWS:
            parser.error(f"--rows: unknown row {name!r}; known: {', '.join(ROWS)}")
        if device != "cuda" and name in ("compile", "offload"):
            rows[name] = {"skipped": f"{device} run: {name} is measured on CUDA only"}
            continue
        pipe = build(arch, device, dtype)
        flops = flops or forward_flops(pipe, arch, device, dtype)
        steps, guidance = (4, 1.0) if name == "distilled" else (arch["steps"], 5.0)
        if name in ("compile", "distilled") and device == "cuda":
            pipe.transformer.compile_repeated_blocks(fullgraph=True)
        if name == "offload":
            pipe.enable_model_cpu_offload()
        if name == "tiling":
            pipe.vae.enable_tiling()
        row = measure(pipe, arch, device, dtype, steps, guidance, args.repeats)
        denoise_flops = flops * row["forwards_per_step"]
        achieved = denoise_flops / row["seconds_per_step"] / 1e12
        row["achieved_tflops"] = float(f"{achieved:.4g}")
        row["fraction_of_matmul_peak"] = float(f"{achieved / peak:.3g}")
        clip_s = (arch["frames"] - 1) / arch["fps"]
        row["seconds_per_5s_clip"] = round(row["seconds_per_clip"] * max(1.0, 5.0 / clip_s), 3)
        rows[name] = row
        print(f"{name:10s} {row['seconds_per_clip']:.3f} s/clip  {row['seconds_per_step']:.4f} s/step  "
              f"decode {row['vae_decode_seconds']:.3f} s  peak {row['peak_memory_gib']} GiB  "
              f"{row['fraction_of_matmul_peak']:.0%} of matmul peak")
        del pipe
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()

    attention = attention_auto(arch, device, dtype)
    print(f"attention auto -> {attention['backend']}  " + "  ".join(
        f"{k} {v:.3f} ms" for k, v in sorted(attention["timings_ms"].items(), key=lambda kv: kv[1])))

    def ver(p: str) -> str | None:
        try:
            return version(p)
        except PackageNotFoundError:
            return None

    report = {
        "benchmark": "gpu_video", "smoke": args.smoke, "weights": "random",
        "model": "tiny wan (smoke)" if args.smoke else args.arch,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clip": {k: arch[k] for k in ("width", "height", "frames", "steps", "fps")},
        "rows": rows, "attention_auto": attention, "denoiser_flops_per_forward": flops, "matmul_peak_tflops": float(f"{peak:.4g}"),
        "hardware": {"device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
                     "machine": platform.machine(), "dtype": str(dtype).removeprefix("torch.")},
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     **{p: ver(p) for p in ("diffusers", "transformers", "microdrama")},
                     "cuda": torch.version.cuda},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("gpu_video_smoke.json" if args.smoke else "gpu_video.json")
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
