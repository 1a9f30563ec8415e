"""Benchmark: CPU episode speed, final render vs hand-written ffmpeg, incremental re-render,
peak memory by episode length, and series scaling — measured side by side in one run.

    python benchmarks/pipeline.py                 # full run (~15 min on 2 cores)
    python benchmarks/pipeline.py --quick         # smoke mode (~3 min): shorter episodes

Every pipeline run is a separate `microdrama` process with a fresh store, as a user would run it,
so wall times include Python and Prefect start-up; the flow's own wall time is reported too.
Writes benchmarks/results/pipeline.json with hardware and library versions.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import yaml

from microdrama.domain import Brief, dump_yaml
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_rules import RuleBasedScreenplayWriter
from microdrama.stages import ScreenplayInput


def screenplay_of(seconds: float) -> dict:
    """A screenplay of roughly `seconds`: the revenge template, repeated with fresh shot ids."""
    brief = Brief(title="基准剧", premise="被赶出家门的千金三年后归来", genre="revenge", target_seconds=180)
    base = RuleBasedScreenplayWriter()(ScreenplayInput(brief=brief), SkillContext(Path("/tmp"))).output
    data = json.loads(base.model_dump_json())
    one_pass = 70.0  # the full template runs about 70 s once dubbed
    scenes, n = [], 0
    for rep in range(max(1, round(seconds / one_pass))):
        for scene in copy.deepcopy(data["episode"]["scenes"]):
            scene["id"] = f"{scene['id']}r{rep}"
            for shot in scene["shots"]:
                n += 1
                shot["id"] = f"s{n:03d}"
            scenes.append(scene)
    data["episode"]["scenes"] = scenes
    if seconds < one_pass * 0.75:  # shorter than one pass: keep the first shots
        keep, total = [], 0.0
        for shot in [s for sc in scenes for s in sc["shots"]]:
            keep.append(shot["id"])
            total += 5.6
            if total >= seconds:
                break
        for sc in scenes:
            sc["shots"] = [s for s in sc["shots"] if s["id"] in keep]
        data["episode"]["scenes"] = [sc for sc in scenes if sc["shots"]]
    return data


class TreeRss:
    """Samples the resident memory of a process and all its descendants (python + ffmpeg)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_tree, self.peak_root, self._stop = pid, 0, 0, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _rss(self, pid: int) -> int:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _children(self) -> dict[int, int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                    parents[int(entry)] = int(fields[1])
                except (OSError, IndexError):
                    pass
        tree, frontier = {self.pid}, [self.pid]
        while frontier:
            p = frontier.pop()
            kids = [c for c, pp in parents.items() if pp == p and c not in tree]
            tree.update(kids)
            frontier.extend(kids)
        return {p: self._rss(p) for p in tree}

    def _run(self) -> None:
        while not self._stop:
            sizes = self._children()
            self.peak_tree = max(self.peak_tree, sum(sizes.values()))
            self.peak_root = max(self.peak_root, sizes.get(self.pid, 0))
            time.sleep(0.25)

    def stop(self) -> None:
        self._stop = True
        self.thread.join()


def run_cli(args: list[str], env: dict, measure_rss: bool = False) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "microdrama.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rss = TreeRss(proc.pid) if measure_rss else None
    output, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if rss:
        rss.stop()
    if proc.returncode not in (0,):
        raise SystemExit(f"microdrama {' '.join(args)} failed:\n{output[-3000:]}")
    out = {"wall_s": round(wall, 2)}
    if rss:
        out.update(peak_rss_tree_mb=round(rss.peak_tree / 2**20, 1), peak_rss_python_mb=round(rss.peak_root / 2**20, 1))
    return out


def episode(work: Path, name: str, screenplay: dict, env: dict, rss: bool = False) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"{name}.yaml"
    source.write_text(yaml.safe_dump(screenplay, allow_unicode=True), encoding="utf-8")
    result = run_cli(["episode", str(source), "--out", str(work / "out"), "--name", name], env, rss)
    manifest = json.loads((work / "out" / name / "manifest.json").read_text(encoding="utf-8"))
    result.update(video_s=manifest["episode"]["duration_s"], flow_wall_s=manifest["timings"]["wall_seconds"],
                  steps_run=manifest["timings"]["steps_run"])
    return result


def hand_written_vs_compose(work: Path, name: str) -> dict:
    """Same inputs, same output: the single-pass compose skill vs one ffmpeg command typed by hand."""
    from microdrama.domain import Storyboard
    from microdrama.finishing import mark_font_size
    from microdrama.media import cjk_font_path, run_ffmpeg
    from microdrama.skills.compose_ffmpeg import FfmpegComposer
    from microdrama.skills.mix_ffmpeg import FfmpegMixer
    from microdrama.stages import ComposeInput, EncodeSpec, MixInput

    manifest = json.loads((work / "out" / name / "manifest.json").read_text(encoding="utf-8"))
    store = work / "out" / ".store"
    results = {json.loads(p.read_text())["usage"]["skill"] + ":" + p.parent.name: json.loads(p.read_text())
               for p in store.glob("*/*/result.json")}
    clips = {r["output"]["shot_id"]: r["output"]["video"] for k, r in results.items() if k.startswith("animatic:")}
    audio = {r["output"]["line_id"]: r["output"]["audio"] for k, r in results.items() if k.startswith("dubbing")}
    board = Storyboard.model_validate_json((work / "out" / name / "storyboard.json").read_text(encoding="utf-8"))
    ass = str(work / "out" / name / "episode.ass")
    hand = work / "hand"
    hand.mkdir(exist_ok=True)

    # The sound is made by the mix stage beside the pictures; it is not part of the comparison.
    sound = FfmpegMixer()(MixInput(storyboard=board, line_audio=audio), SkillContext(work / "mix")).output
    t0 = time.perf_counter()
    FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, subtitles_ass=ass),
                     SkillContext(work / "compose-skill"))
    ours = time.perf_counter() - t0

    shutil.copyfile(sound.aac, hand / "mix.m4a")
    shutil.copyfile(ass, hand / "subs.ass")
    (hand / "fonts").mkdir(exist_ok=True)
    shutil.copyfile(cjk_font_path(), hand / "fonts" / "font.otf")
    (hand / "list.txt").write_text("".join(f"file '{clips[s.shot.id]}'\n" for s in board.shots), encoding="utf-8")
    size = mark_font_size("AI生成", 0.055 * 1080)
    t0 = time.perf_counter()
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", "list.txt", "-i", "mix.m4a", "-filter_complex",
                f"[0:v]subtitles=filename=subs.ass:fontsdir=fonts,drawtext=fontfile=fonts/font.otf:text=AI生成"
                f":fontsize={size}:fontcolor=white:x=w-tw-43:y=43:box=1:boxcolor=black@0.45:boxborderw={size // 5},"
                "format=yuv420p[v]", "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-preset", EncodeSpec().preset,
                "-crf", str(EncodeSpec().crf), "-c:a", "copy", "-shortest", "-movflags", "+faststart",
                "hand.mp4"], cwd=hand)
    handwritten = time.perf_counter() - t0
    segmented = [u for u in manifest["usage"] if u["task"] in ("finish-shot", "assemble") and not u["cached"]]
    return {"compose_skill_s": round(ours, 2), "hand_written_ffmpeg_s": round(handwritten, 2),
            "ratio": round(ours / handwritten, 3),
            "segmented_finish_plus_assemble_cpu_s": round(sum(u["usage"]["cpu_seconds"] for u in segmented), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: short episodes, fewer sizes")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/pipeline_work"))
    parser.add_argument("--ephemeral", action="store_true",
                        help="let every run start Prefect's temporary server (~10 s each) instead of one local server")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "PREFECT_HOME": str(args.work / "prefect")}
    server = None if args.ephemeral else start_prefect_server(env)
    if server:
        env["PREFECT_API_URL"] = server[1]
    report: dict = {"benchmark": "pipeline", "quick": args.quick,
                    "prefect": "temporary server per run" if args.ephemeral else f"one local server ({server[1]})",
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        measure(args, env, report)
    finally:
        if server:
            server[0].terminate()
            server[0].wait(timeout=30)


def start_prefect_server(env: dict) -> tuple[subprocess.Popen, str]:
    """A Prefect server on loopback, as a pilot base runs one: flows then skip the per-process start-up."""
    import urllib.request

    port = 4277
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the local Prefect server did not start within 2 minutes")


def measure(args, env: dict, report: dict) -> None:
    run_cli(["skills", "list"], env)

    length = 20 if args.quick else 60
    print(f"[1/5] a {length}-s 1080x1920 episode from scratch…", flush=True)
    sp = screenplay_of(length)
    full = episode(args.work / "speed", "ep", sp, env)
    full["wall_per_video_second"] = round(full["wall_s"] / full["video_s"], 3)
    full["flow_wall_per_video_second"] = round(full["flow_wall_s"] / full["video_s"], 3)
    report["cpu_episode"] = full
    print(f"      {full['video_s']:.1f} s of video in {full['wall_s']:.1f} s wall "
          f"(ratio {full['wall_per_video_second']}, flow only {full['flow_wall_per_video_second']})", flush=True)

    print("[2/5] final render: compose skill vs one hand-written ffmpeg command…", flush=True)
    report["final_render"] = hand_written_vs_compose(args.work / "speed", "ep")
    print(f"      ratio {report['final_render']['ratio']}", flush=True)

    print("[3/5] incremental re-render after a one-line edit…", flush=True)
    edited = copy.deepcopy(sp)
    edited["episode"]["scenes"][0]["shots"][1]["lines"][0]["text"] = "三年前你被赶出赵家，今天居然还敢回来？"
    inc = episode(args.work / "speed", "ep", edited, env)
    report["incremental"] = {**inc, "ratio_vs_full": round(inc["wall_s"] / full["wall_s"], 3),
                             "flow_ratio_vs_full": round(inc["flow_wall_s"] / full["flow_wall_s"], 3)}
    print(f"      {inc['wall_s']:.1f} s vs {full['wall_s']:.1f} s: ratio {report['incremental']['ratio_vs_full']} "
          f"(flow only {report['incremental']['flow_ratio_vs_full']}; {inc['steps_run']} steps re-run)", flush=True)

    minutes = [0.5, 1] if args.quick else [1, 3, 6]
    print(f"[4/5] peak memory for {minutes}-minute episodes…", flush=True)
    report["peak_rss"] = []
    for m in minutes:
        r = episode(args.work / f"rss{m}", "ep", screenplay_of(m * 60), env, rss=True)
        report["peak_rss"].append({"minutes": m, **r})
        print(f"      {r['video_s']:.0f} s: python {r['peak_rss_python_mb']} MB, with ffmpeg {r['peak_rss_tree_mb']} MB "
              f"({r['wall_s']:.0f} s wall)", flush=True)

    print("[5/5] series: 1 episode vs 4 episodes (parallel 2)…", flush=True)
    brief = args.work / "series" / "brief.yaml"
    brief.parent.mkdir(parents=True)
    brief.write_text(dump_yaml(Brief(title="系列", premise="一个关于归来的故事", genre="romance",
                                     target_seconds=20 if args.quick else 30)), encoding="utf-8")
    series = {}
    for count in (1, 4):
        spec = brief.parent / f"s{count}.yaml"
        spec.write_text(f"title: s{count}\nbrief: brief.yaml\ncount: {count}\n", encoding="utf-8")
        series[count] = run_cli(["series", str(spec), "--out", str(brief.parent / f"out{count}"), "--parallel", "2"], env)
    report["series"] = {"one_s": series[1]["wall_s"], "four_s": series[4]["wall_s"],
                        "ratio_four_over_one": round(series[4]["wall_s"] / series[1]["wall_s"], 2)}
    print(f"      1 episode {series[1]['wall_s']:.0f} s, 4 episodes {series[4]['wall_s']:.0f} s "
          f"(ratio {report['series']['ratio_four_over_one']})", flush=True)

    report["hardware"] = {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.platform()}
    report["versions"] = {"python": sys.version.split()[0],
                          **{p: version(p) for p in ("microdrama", "prefect", "imageio-ffmpeg", "pillow", "numpy")}}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("pipeline_quick.json" if args.quick else "pipeline.json")
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
