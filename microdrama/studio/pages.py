"""What the studio's pages show, read from the run folders: plain functions, no HTTP, testable alone.

A run folder (`OUT/<name>/`) holds the screenplay, the storyboard, the cut, the manifest (with every take,
its source, cost and status), `review.json` and the filing packs; a series folder (`OUT/<slug>/series.json`)
lists its episodes. Paths a page links to are relative to the out folder, which is all the studio serves.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from microdrama.config import ProjectConfig
from microdrama.domain import Emotion, Screenplay, Storyboard
from microdrama.edits import load_screenplay
from microdrama.errors import InputError
from microdrama.review import ReviewLog
from microdrama.run import FAILED_MARKER, check_run_name

CONFIG_COPY = ".studio-config.json"  # the config the episode was rendered with, kept for re-renders


def inside(out_dir: Path, relative: str) -> Path:
    """`relative` resolved inside the out folder, or an error: the browser never names a file outside it."""
    root = Path(out_dir).resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{relative}: not inside the studio's out folder")
    return target


def run_dir(out_dir: Path, name: str) -> Path:
    check_run_name(name)
    folder = inside(out_dir, name)
    if not (folder / "screenplay.yaml").is_file():
        raise InputError(f"episode '{name}': no run folder with a screenplay.yaml under {out_dir}")
    return folder


def _rel(out_dir: Path, path: str | Path | None) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path(out_dir).resolve()))
    except ValueError:
        return None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return None


def episode_config(folder: Path, fallback: ProjectConfig | None = None) -> ProjectConfig:
    """The config the episode was rendered with (its manifest), so an edit re-renders it the same way."""
    manifest = read_manifest(folder)
    copy = folder / CONFIG_COPY
    if manifest:
        from microdrama.files import atomic_write_text

        config = ProjectConfig.model_validate(manifest["config"])
        if not copy.is_file():
            atomic_write_text(copy, json.dumps(manifest["config"], ensure_ascii=False))
        return config
    if copy.is_file():
        return ProjectConfig.model_validate_json(copy.read_text(encoding="utf-8"))
    if fallback is not None:
        return fallback
    raise InputError(f"{folder.name}: no manifest.json to take the render settings from; render it once with "
                     "`microdrama episode` or start the studio with --config")


def index(out_dir: Path) -> dict[str, Any]:
    """Series, then their episodes, then the episodes that belong to no series."""
    out_dir = Path(out_dir)
    episodes: dict[str, dict[str, Any]] = {}
    series: list[dict[str, Any]] = []
    if not out_dir.is_dir():
        return {"series": [], "episodes": []}
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (folder / "screenplay.yaml").is_file():
            manifest = read_manifest(folder)
            episodes[folder.name] = {
                "name": folder.name, "complete": manifest is not None,
                "failed": (folder / FAILED_MARKER).is_file(),
                "duration_s": manifest["episode"]["duration_s"] if manifest else None,
                "review": (manifest or {}).get("review", {}), "poster": None}
        if (folder / "series.json").is_file():
            try:
                data = json.loads((folder / "series.json").read_text(encoding="utf-8"))
            except ValueError:
                continue
            series.append({"title": data.get("title", folder.name), "slug": folder.name,
                           "episodes": [e.get("name") for e in data.get("episodes", [])]})
    in_series = {n for s in series for n in s["episodes"]}
    for s in series:
        s["episodes"] = [episodes[n] for n in s["episodes"] if n in episodes]
    return {"series": series, "episodes": [e for n, e in episodes.items() if n not in in_series]}


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def episode(out_dir: Path, name: str, budget_rmb: Decimal | None = None) -> dict[str, Any]:
    """Everything the episode page shows."""
    folder = run_dir(out_dir, name)
    screenplay: Screenplay = load_screenplay(folder)
    manifest = read_manifest(folder) or {}
    board = None
    if (folder / "storyboard.json").is_file():
        board = Storyboard.model_validate_json((folder / "storyboard.json").read_text(encoding="utf-8"))
    timed = {ts.shot.id: ts for ts in board.shots} if board else {}
    takes_by_shot: dict[str, list[dict[str, Any]]] = {}
    for t in manifest.get("takes", {}).get("takes", []):
        takes_by_shot.setdefault(t["shot_id"], []).append({**t, "media": _rel(out_dir, t.get("video"))})
    review = ReviewLog.load(folder)
    shots = []
    for scene, shot in screenplay.shots():
        takes = takes_by_shot.get(shot.id, [])
        ts = timed.get(shot.id)
        shots.append({
            "id": shot.id, "scene": scene.id, "location": scene.location, "prompt": shot.visual_prompt,
            "min_duration_s": shot.min_duration_s, "shot_size": shot.shot_size.value,
            "camera_move": shot.camera_move.value, "characters": shot.characters,
            "start_s": ts.start_s if ts else None, "duration_s": ts.duration_s if ts else None,
            "lines": [{"id": shot.line_id(i), "speaker": ln.speaker, "text": ln.text, "emotion": ln.emotion.value}
                      for i, ln in enumerate(shot.lines)],
            "takes": takes, "takes_asked": review.takes_for(shot.id, manifest.get("takes", {}).get("per_shot", 1)),
            "cost": str(sum((_money(t.get("cost", 0)) for t in takes), Decimal(0))),
            "approved": any(t.get("in_cut") and t.get("status") == "approved" for t in takes),
        })
    cut = folder / "episode.mp4"
    artifacts = manifest.get("artifacts", {})
    return {
        "name": name, "title": screenplay.series.title, "episode_title": screenplay.episode.title,
        "number": screenplay.episode.number, "language": screenplay.series.language,
        "complete": bool(manifest), "failed": (folder / FAILED_MARKER).read_text(encoding="utf-8")
        if (folder / FAILED_MARKER).is_file() else None,
        "cut": f"{name}/episode.mp4" if cut.is_file() else None,
        "cut_version": artifacts.get("episode.mp4", {}).get("sha256", "")[:12] or str(int(cut.stat().st_mtime))
        if cut.is_file() else "",
        "duration_s": manifest.get("episode", {}).get("duration_s"),
        "storyboard": f"{name}/storyboard.png" if (folder / "storyboard.png").is_file() else None,
        "characters": [{"id": c.id, "name": c.name, "role": c.role, **c.voice.model_dump(mode="json",
                        include={"gender", "variant", "pitch", "rate", "engine", "voice_id"})}
                       for c in screenplay.series.characters],
        "speakers": [(c.id, c.name) for c in screenplay.series.characters] + [("narrator", "旁白 narrator")],
        "emotions": [e.value for e in Emotion],
        "shots": shots, "all_approved": bool(shots) and all(s["approved"] for s in shots),
        "cost": cost_panel(manifest, shots, budget_rmb),
        "compliance": compliance_panel(out_dir, folder, manifest),
        "review": review.summary(),
    }


def cost_panel(manifest: dict[str, Any], shots: list[dict[str, Any]], budget_rmb: Decimal | None) -> dict[str, Any]:
    """Quote against actual per stage, cost per shot, per finished minute (rejected takes included), budget left."""
    cost = manifest.get("cost") or {}
    takes = manifest.get("takes") or {}
    api_total = _money((cost.get("by_category") or {}).get("model_api", 0))
    return {
        "currency": cost.get("currency", "RMB"), "this_run": cost.get("this_run"),
        "episode_total": cost.get("episode_total"), "per_finished_minute": cost.get("per_finished_minute"),
        "by_category": cost.get("by_category", {}), "spend": manifest.get("spend", {}),
        "quote_total": (manifest.get("quote") or {}).get("total"),
        "per_shot": [{"id": s["id"], "takes": len(s["takes"]), "cost": s["cost"]} for s in shots],
        "usable_take_rate": takes.get("usable_take_rate"),
        "api_per_finished_minute": takes.get("api_cost_per_finished_minute"),
        "budget": str(budget_rmb) if budget_rmb is not None else None,
        "budget_left": str(budget_rmb - api_total) if budget_rmb is not None else None,
    }


def compliance_panel(out_dir: Path, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Label checks per published file, the filing packs, and the consent records the cast relies on."""
    labels = [{"file": Path(r["path"]).name, "ok": r["ok"],
               "failed": [c["clause"] for c in r.get("clauses", []) if not c["ok"]],
               "warnings": r.get("warnings", [])} for r in manifest.get("labels", [])]
    filing = sorted(str(p.relative_to(Path(out_dir).resolve())) for p in (folder / "filing").glob("*.*")
                    if p.suffix in (".html", ".xlsx", ".json")) if (folder / "filing").is_dir() else []
    consents = [c for c in manifest.get("cast", []) if c.get("consent")]
    assets = [{"ref": a["ref"], "name": a.get("name", ""), "used_by": a.get("used_by", ""),
               "owner": a.get("rights", {}).get("owner", ""), "licence": a.get("rights", {}).get("licence", ""),
               "territories": ", ".join(a.get("rights", {}).get("territories", [])),
               "expires": a.get("rights", {}).get("expires") or "perpetual",
               "consents": [f"{c['person']} ({c['covers']}, until {c['expires']})" for c in a.get("consents", [])]}
              for a in manifest.get("assets", [])]
    return {"assets": assets,"labels": labels, "labels_ok": bool(labels) and all(r["ok"] for r in labels), "filing": filing,
            "audio_passed": sum(r["ok"] and r["file"].endswith(".wav") for r in labels),
            "cast": manifest.get("cast", []), "consents": consents}
