"""benchmarks/gpu_video.py --smoke: the GPU benchmark's code path on a tiny random Wan, on CPU, in seconds."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_video.py"
pytestmark = pytest.mark.slow  # ~10 s on a 2-core runner


def test_gpu_benchmark_runs_in_smoke_mode_and_writes_every_row(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_video", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = bench.main(["--smoke", "--out", str(tmp_path)])
    report = json.loads(path.read_text())
    assert path.name == "gpu_video_smoke.json" and report["smoke"] and report["weights"] == "random"
    rows = report["rows"]
    assert set(rows) == {"baseline", "compile", "distilled", "offload", "tiling"}
    assert "CUDA only" in rows["compile"]["skipped"] and "CUDA only" in rows["offload"]["skipped"]
    for name in ("baseline", "distilled", "tiling"):
        row = rows[name]
        assert row["seconds_per_clip"] > 0 and row["seconds_per_step"] > 0 and row["achieved_tflops"] > 0
        assert row["peak_memory_gib"] is None  # CPU: no GPU memory to measure
    assert (rows["distilled"]["steps"], rows["distilled"]["forwards_per_step"]) == (4, 1)
    assert rows["baseline"]["forwards_per_step"] == 2  # CFG
    assert report["denoiser_flops_per_forward"] > 0 and report["matmul_peak_tflops"] > 0
    assert report["hardware"]["device"] and report["hardware"]["machine"]
    assert report["versions"]["torch"] and report["versions"]["diffusers"]
