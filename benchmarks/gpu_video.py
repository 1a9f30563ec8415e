"""Benchmark: seconds per clip and peak GPU memory for a video model, baseline vs optimised.

    python benchmarks/gpu_video.py                      # on a GPU machine, model from the registry
    python benchmarks/gpu_video.py --model ltx-video-2b --frames 49
    python benchmarks/gpu_video.py --smoke              # CPU smoke mode: a tiny pipeline built offline

Both settings run in the same process on the same prompt and seed: baseline (no cache) and
optimised (diffusers' FirstBlockCache, plus torch.compile with --compile). The ratio is printed
and written with hardware and library versions to benchmarks/results/gpu_video[_smoke].json.
Designed to finish in under 8 minutes on one H100 for the 1.3B Wan model.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="wan2.1-t2v-1.3b")
    parser.add_argument("--registry", default=None)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny pipeline on CPU: checks the script, not a GPU")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    import torch
    from diffusers import DiffusionPipeline

    from microdrama.diffusion_registry import ModelRegistry, check_folder

    if args.smoke:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.diffusion.tiny import build_tiny_wan

        folder = build_tiny_wan(args.out / "gpu_video_smoke_model")
        device, dtype, width, height, frames, steps = "cpu", torch.float32, 16, 16, 9, 2
    else:
        spec = ModelRegistry.load(args.registry).get(args.model)
        folder = check_folder(spec)
        device, dtype = "cuda", getattr(torch, spec.dtype)
        width, height, frames, steps = spec.defaults.width, spec.defaults.height, args.frames, args.steps

    def one_setting(optimised: bool) -> dict:
        pipe = DiffusionPipeline.from_pretrained(str(folder), dtype=dtype, local_files_only=True).to(device)
        pipe.set_progress_bar_config(disable=True)
        denoiser = getattr(pipe, "transformer", None) or pipe.unet
        if optimised:
            from diffusers.hooks import FirstBlockCacheConfig

            denoiser.enable_cache(FirstBlockCacheConfig(threshold=0.05))
            if args.compile and device == "cuda":
                denoiser.compile()
        times = []
        for i in range(args.repeats + 1):  # the first call warms up (and compiles)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            pipe(prompt="A woman in a white shirt walks along the Bund at dusk, vertical cinematic shot",
                 width=width, height=height, num_frames=frames, num_inference_steps=steps,
                 generator=torch.Generator("cpu").manual_seed(0), output_type="np")
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
        del pipe
        if device == "cuda":
            torch.cuda.empty_cache()
        return {"seconds_per_clip": round(min(times), 3), "peak_memory_gib": round(peak, 2)}

    baseline = one_setting(False)
    optimised = one_setting(True)
    ratio = optimised["seconds_per_clip"] / baseline["seconds_per_clip"]
    print(f"baseline  {baseline}\noptimised {optimised}\noptimised / baseline time: {ratio:.2f}")
    report = {
        "benchmark": "gpu_video", "smoke": args.smoke, "model": "tiny-wan (random)" if args.smoke else args.model,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clip": {"width": width, "height": height, "frames": frames, "steps": steps},
        "baseline": baseline, "optimised": optimised, "ratio_optimised_over_baseline": round(ratio, 3),
        "optimisations": ["FirstBlockCache(threshold=0.05)"] + (["torch.compile"] if args.compile else []),
        "hardware": {"device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
                     "machine": platform.machine()},
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     **{p: version(p) for p in ("diffusers", "transformers", "microdrama")}},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("gpu_video_smoke.json" if args.smoke else "gpu_video.json")
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
