"""Benchmark: the studio's warm worker against the cold CLI, on the demo episode, side by side in one run.

    python benchmarks/studio.py               # 3 rounds, ~7 min on 2 cores
    python benchmarks/studio.py --repeats 1   # one round, ~2.5 min

Measures, in each round, each full render on a fresh store (medians over the rounds are reported):
  1. a full demo render from a cold `microdrama demo` process (Python, Prefect and the skills start up);
  2. a one-line edit re-rendered by a cold `microdrama episode` process;
  3. a full demo render through the warm worker (`pipelines.studio.RenderWorker`, warmed first);
  4. one-line edits through the warm worker, as the studio does it (`edits.apply_edit`, then a render): three
     edits of the same line one after another, the round's figure being their median.
Prints the ratios the studio issue targets (edit ÷ full run ≤ 0.10; warm full render ≤ 0.5 × episode length)
and writes benchmarks/results/studio.json with hardware and library versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
EDITED = "你当年把我赶出家门，今天我回来讨个说法。"
# The warm worker's edits in each round, one after another on the same line (the round's edit time is their
# median: a single 4-s render on a shared 2-core machine swings by ±15%). Each is about as long as EDITED.
WARM_EDITS = (EDITED, "我回来了，这一次谁也别想再把我赶出去。", "那年的账，今天我要你们一笔一笔算清楚。")


def cli(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "microdrama.cli", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def first_line(run_dir: Path) -> str:
    from microdrama.edits import load_screenplay

    return load_screenplay(run_dir).spoken_lines()[1].id  # the first line after the opening narration


def steps_by_task(run_dir: Path) -> dict:
    """Where a render's time went: the steps it ran (not reused), by task, with their wall and CPU seconds."""
    from microdrama.run import Manifest

    found: dict[str, dict] = {}
    for record in Manifest.read(run_dir).usage:
        if record.cached:
            continue
        row = found.setdefault(record.task, {"steps": 0, "wall_s": 0.0, "cpu_s": 0.0})
        row["steps"] += 1
        row["wall_s"] = round(row["wall_s"] + record.usage.wall_seconds, 2)
        row["cpu_s"] = round(row["cpu_s"] + record.usage.cpu_seconds, 2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all four renders; medians are reported "
                                                               "(a shared 2-core machine varies by ±10%% run to run)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="microdrama-bench-studio-"))
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "MICRODRAMA_CACHE": str(work / "cache")}
    os.environ.update({k: env[k] for k in ("PREFECT_HOME", "MICRODRAMA_CACHE")})
    report: dict = {"episode": "bundled demo (assets/demo/brief.yaml), default config, CPU animatic",
                    "repeats": args.repeats}
    from microdrama.assets import ASSETS_DIR
    from microdrama.config import ProjectConfig
    from microdrama.edits import apply_edit, edit_line
    from microdrama.html_fonts import _subset_woff, prepare_page_fonts
    from microdrama.pipelines.studio import RenderWorker
    from microdrama.run import Manifest, configure

    config, _ = configure(ProjectConfig.load(None))
    prepare_page_fonts()  # a machine cache (made once per machine, like model weights): not part of any timed run
    started = time.perf_counter()
    worker = RenderWorker().start()
    worker.ready.wait()
    warm_up = time.perf_counter() - started

    def render(source: Path, reason: str, out_dir: Path) -> float:
        job = worker.wait(worker.submit("demo", reason, config=config, source=source, out_dir=out_dir))
        assert job.state == "done", job.error
        return job.seconds

    times: dict[str, list[float]] = {"cold_full": [], "cold_edit": [], "warm_full": [], "warm_edit": []}
    for round_ in range(1, args.repeats + 1):
        # 1-2. Cold CLI: a full render into a fresh folder, then one edited line re-rendered by a new process.
        cold = work / f"cold{round_}"
        times["cold_full"].append(cli(["demo", "--out", str(cold)], env))
        run_dir = cold / "demo"
        length = Manifest.read(run_dir).episode["duration_s"]
        line = first_line(run_dir)
        apply_edit(run_dir, config, edit_line, line, text=EDITED)
        times["cold_edit"].append(cli(["episode", str(run_dir / "screenplay.yaml"), "--out", str(cold), "--name",
                                       "demo"], env))
        # 3-4. The warm worker in this process (warmed once): a full render into a fresh folder, then the edit,
        #      as the studio does it (the edit's check and write, then its render).
        warm = work / f"warm{round_}"
        _subset_woff.cache_clear()  # the same demo again: its report fonts must be subset again, as for a new one
        times["warm_full"].append(render(ASSETS_DIR / "demo" / "brief.yaml", "full render", warm))
        run_dir = warm / "demo"
        report["warm_full_steps"] = steps_by_task(run_dir)
        edits = []
        for text in WARM_EDITS:
            apply_started = time.perf_counter()
            apply_edit(run_dir, config, edit_line, line, text=text)
            render(run_dir / "screenplay.yaml", f"line {line} edited", warm)
            edits.append(time.perf_counter() - apply_started)
            if text == EDITED:
                report["warm_edit_steps"] = steps_by_task(run_dir)
                shot = line.rsplit("-", 1)[0]  # the edited line's shot: its take kept (cut or held) or made again
                take = next(t for t in Manifest.read(run_dir).takes["takes"] if t["shot_id"] == shot)
                report["warm_edit_take"] = {"shot": shot, "fit": take.get("fit"), "reused": take.get("cached")}
        times["warm_edit"].append(statistics.median(edits))
        report.setdefault("warm_edits_s", []).append([round(e, 2) for e in edits])
        print(f"round {round_}: cold CLI full {times['cold_full'][-1]:.1f} s, edit {times['cold_edit'][-1]:.1f} s; "
              f"warm full {times['warm_full'][-1]:.1f} s, edits {', '.join(f'{e:.1f}' for e in edits)} s", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    report.update({
        "episode_seconds": round(length, 2),
        "runs_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "cold_cli": {"full_s": round(med["cold_full"], 2), "edit_s": round(med["cold_edit"], 2),
                     "edit_over_full": round(med["cold_edit"] / med["cold_full"], 3)},
        "warm_worker": {"warm_up_s": round(warm_up, 2), "full_s": round(med["warm_full"], 2),
                        "edit_s": round(med["warm_edit"], 2),
                        "edit_over_full_warm": round(med["warm_edit"] / med["warm_full"], 3),
                        "full_over_episode_length": round(med["warm_full"] / length, 3)},
        "edit_warm_over_full_cold": round(med["warm_edit"] / med["cold_full"], 3),
        "edit_warm_over_full_cold_per_round": [round(e / f, 3) for e, f in zip(times["warm_edit"], times["cold_full"])],
        "full_warm_over_episode_length_per_round": [round(f / length, 3) for f in times["warm_full"]],
        "targets": {"edit_over_full": 0.10, "full_over_episode_length": 0.5},
        "hardware": {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.platform()},
        "versions": {"python": sys.version.split()[0],
                     **{p: version(p) for p in ("microdrama", "prefect", "imageio-ffmpeg", "fastapi")}},
    })
    print(f"medians of {args.repeats}: one-line edit through the warm worker ÷ full cold run: "
          f"{report['edit_warm_over_full_cold']:.3f} (per round {report['edit_warm_over_full_cold_per_round']}; "
          f"÷ full warm run {report['warm_worker']['edit_over_full_warm']:.3f}); warm full render ÷ episode length: "
          f"{report['warm_worker']['full_over_episode_length']:.3f} "
          f"(per round {report['full_warm_over_episode_length_per_round']})")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "studio.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
