"""Filing packs for the regulator: planning filing (规划备案) and online filing (上线备案).

The planning pack is built from the series bible and the project config: title, subject, episode
count and length, synopsis and outline, themes, budget (configured, or estimated from the
ledger's cost per finished minute), the AI-content declaration, and the review tier computed
from dated thresholds. The online pack is built from finished run folders: actual durations,
per-episode synopses, content hashes, label-check results and actual cost from the ledger.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field

from microdrama.config import ProjectConfig
from microdrama.domain import Screenplay, Strict, load_model
from microdrama.errors import InputError
from microdrama.files import atomic_write_text, save_workbook, sha256_file
from microdrama.voices import cast_record, describe_cast

AI_DECLARATION_ZH = ("本剧使用人工智能技术生成或合成部分或全部内容（画面、配音、字幕），已按《人工智能生成合成内容标识办法》"
                     "及 GB 45438-2025 添加显式标识与隐式标识。")
AI_DECLARATION_EN = ("This drama contains content generated or synthesised by AI (pictures, voices, subtitles), labelled "
                     "visibly and in metadata under the Measures for Labelling AI-Generated Content and GB 45438-2025.")


class Tier(Strict):
    name: str
    min_rmb: Decimal = Field(ge=0)


class TierScheme(Strict):
    id: str
    applies_to: Literal["general", "ai"]
    effective_from: date
    source: str = Field(min_length=1)
    tiers: list[Tier] = Field(min_length=1)


class ReviewTiers(Strict):
    schemes: list[TierScheme] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path | None = None) -> "ReviewTiers":
        from microdrama.assets import ASSETS_DIR

        return load_model(cls, path or ASSETS_DIR / "filing" / "review_tiers.yaml")

    def tier_for(self, budget: Decimal, on: date, ai: bool = True, special: bool = False) -> tuple[str, TierScheme, str]:
        """(tier, scheme, reason). AI works use the AI scheme once it is in force, else the general one."""
        def in_force(kind: str) -> list[TierScheme]:
            return sorted((s for s in self.schemes if s.applies_to == kind and s.effective_from <= on),
                          key=lambda s: s.effective_from)

        candidates = (in_force("ai") if ai else []) or in_force("general")
        if not candidates:
            raise InputError(f"no review-tier scheme is in force on {on}")
        scheme = candidates[-1]
        ordered = sorted(scheme.tiers, key=lambda t: t.min_rmb, reverse=True)
        if special:
            return ordered[0].name, scheme, "special subject: always reviewed at the top tier"
        for tier in ordered:
            if budget >= tier.min_rmb:
                return tier.name, scheme, f"budget {budget:,.2f} RMB ≥ {tier.min_rmb:,.0f} ({scheme.id})"
        return ordered[-1].name, scheme, "below every threshold"


@dataclass
class Pack:
    title: str
    rows: list[tuple[str, str]]
    table: list[dict] | None = None


def plan_pack(screenplay: Screenplay, config: ProjectConfig, on: date, cost_per_minute: Decimal | None = None,
              tiers: ReviewTiers | None = None) -> Pack:
    f = config.filing
    total_minutes = Decimal(str(f.episodes_planned * f.minutes_per_episode))
    if f.budget_rmb is not None:
        budget, basis = f.budget_rmb, "configured budget (filing.budget_rmb)"
    elif cost_per_minute is not None:
        budget = (cost_per_minute * total_minutes).quantize(Decimal("0.01"))
        basis = f"ledger estimate: {cost_per_minute} RMB per finished minute × {total_minutes} planned minutes"
    else:
        raise InputError("filing plan needs a budget: set filing.budget_rmb in the config, or pass --run with a "
                         "rendered episode so the ledger's cost per finished minute can estimate it")
    tier, scheme, reason = (tiers or ReviewTiers.load()).tier_for(budget, on, ai=True, special=f.special_subject)
    sp = screenplay
    zh = sp.series.language == "zh"
    outline = "\n".join(f"{sc.id} {sc.location}: {sc.description}" for sc in sp.episode.scenes)
    rows = [
        ("剧名 title (fixed after filing)", sp.series.title),
        ("类型/题材 genre / subject", f"{sp.series.genre.value} / {f.subject or '—'}"),
        ("集数 episodes", str(f.episodes_planned)),
        ("单集时长 minutes per episode", f"{f.minutes_per_episode:g}"),
        ("总时长 total minutes", f"{float(total_minutes):g}"),
        ("故事梗概 synopsis", sp.series.logline),
        ("样集梗概 sample episode", f"{sp.episode.title}: {sp.episode.synopsis}"),
        ("分集大纲 outline (sample episode)", outline),
        ("思想内涵 themes", f.themes or "—"),
        ("预算 budget (RMB)", f"{budget:,.2f}"),
        ("预算依据 budget basis", basis),
        ("审查层级 review tier", tier),
        ("层级依据 tier basis", f"{reason}. Source: {scheme.source}"),
        ("AI 生成声明 AI declaration", AI_DECLARATION_ZH if zh else AI_DECLARATION_EN),
        ("剧目类型 drama_type", {1: "1 漫剧", 2: "2 真人", 3: "3 数字真人"}[f.drama_type]),
        ("城市形象·文旅 city-image work", "是 yes" if f.city_image else "否 no"),
        ("填报日期 prepared on", on.isoformat()),
    ]
    return Pack("规划备案 planning filing", rows)


@dataclass
class FiledEpisode:
    """What the online filing needs of one finished episode."""

    screenplay: Screenplay
    video: Path
    sha256: str
    duration_s: float
    cost_rmb: Decimal
    label_ok: bool | None = None  # None: not checked by the run that made it
    failed_clauses: list[str] = field(default_factory=list)

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> "FiledEpisode":
        """A finished run folder, read back: its manifest, screenplay and cut."""
        from microdrama.run import Manifest

        manifest = Manifest.read(run_dir)
        video = Path(run_dir) / "episode.mp4"
        sha = sha256_file(video)
        recorded = next((r for r in manifest.labels if Path(r["path"]).name == "episode.mp4"), None)
        artifact = manifest.artifacts.get("episode.mp4")
        checked = recorded is not None and artifact is not None and artifact.sha256 == sha  # this very file
        return cls(screenplay=load_model(Screenplay, Path(run_dir) / "screenplay.json"), video=video, sha256=sha,
                   duration_s=float(manifest.episode["duration_s"]),
                   cost_rmb=Decimal(manifest.cost.episode_total) if manifest.cost else Decimal(0),
                   label_ok=recorded["ok"] if checked else None,
                   failed_clauses=[c["clause"] for c in recorded["clauses"] if not c["ok"]] if checked else [])


def online_pack(episodes: list[FiledEpisode], config: ProjectConfig) -> Pack:
    from microdrama.labels.check import check_file
    from microdrama.media import probe

    rows_by_episode, total_cost, title = [], Decimal(0), ""
    for ep in episodes:
        sp = ep.screenplay
        title = sp.series.title
        label_ok, failed = ep.label_ok, ep.failed_clauses
        if label_ok is None:  # nobody checked this file yet: check it now
            report = check_file(ep.video, require_c2pa=config.labels.require_c2pa,
                                trust_anchors=config.labels.signing.trust_anchors if config.labels.signing else None)
            label_ok, failed = report.ok, [c.clause for c in report.clauses if not c.ok]
        total_cost += ep.cost_rmb
        rows_by_episode.append({
            "episode": sp.episode.number, "title": sp.episode.title, "duration_s": round(probe(ep.video).duration_s, 2),
            "synopsis": sp.episode.synopsis, "sha256": ep.sha256,
            "label_check": "pass" if label_ok else "FAIL: " + ", ".join(failed),
            "actual_cost_rmb": str(ep.cost_rmb),
        })
    episodes_table = sorted(rows_by_episode, key=lambda e: e["episode"])
    f = config.filing
    rows = [
        ("剧名 title", title), ("上线平台 platform", f.platform or "—"),
        ("实际投资 actual investment (RMB)", f"{total_cost:,.4f}"),
        ("cost_of_production (万元)", f"{total_cost / 10000:.4f}"),
        ("content_declared (AI-generated)", "1"),
        ("drama_type", str(f.drama_type)),
        ("备案号 licence / filing number", f.licence_number or "—"),
        ("主创 credits", "; ".join(f"{k}: {v}" for k, v in f.credits.items()) or "—"),
        ("集数 episodes filed", str(len(episodes_table))),
        ("配音 voices and consent", describe_cast(cast_record(episodes[-1].screenplay, config.stages.dubbing,
                                                             config.narrator_voice)) if episodes else "—"),
        ("声明 declaration", AI_DECLARATION_ZH),
    ]
    return Pack("上线备案 online filing", rows, episodes_table)


def write_pack(pack: Pack, out_dir: Path, stem: str) -> dict[str, Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"xlsx": out_dir / f"{stem}.xlsx", "html": out_dir / f"{stem}.html", "json": out_dir / f"{stem}.json"}
    wb = Workbook()
    ws = wb.active
    ws.title = "Filing"
    ws.append([pack.title])
    ws["A1"].font = Font(bold=True, size=14)
    for key, value in pack.rows:
        ws.append([key, value])
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 34, 90
    for row in ws.iter_rows(min_row=2):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    if pack.table:
        eps = wb.create_sheet("Episodes")
        eps.append(list(pack.table[0]))
        for item in pack.table:
            eps.append(list(item.values()))
    save_workbook(wb, paths["xlsx"])
    atomic_write_text(paths["json"], json.dumps({"title": pack.title, "fields": dict(pack.rows), "episodes": pack.table},
                                                ensure_ascii=False, indent=2))
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v).replace(chr(10), '<br>')}</td></tr>" for k, v in pack.rows)
    table = ""
    if pack.table:
        head = "".join(f"<th>{esc(k)}</th>" for k in pack.table[0])
        body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in item.values()) + "</tr>" for item in pack.table)
        table = f"<h2>分集 episodes</h2><table><tr>{head}</tr>{body}</table>"
    atomic_write_text(paths["html"], f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{esc(pack.title)}</title>
<style>body{{font-family:'Noto Sans SC',sans-serif;margin:28px;max-width:1000px}} table{{border-collapse:collapse}}
th,td{{border:1px solid #ddd;padding:6px 10px;text-align:left;vertical-align:top}} th{{background:#f4efe9;width:30%}}</style>
<h1>{esc(pack.title)}</h1><table>{rows}</table>{table}</html>
""")
    return paths
