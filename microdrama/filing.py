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
from microdrama.html_fonts import FONT_STACK, MONO_STACK, embed_font
from microdrama.voices import cast_record, describe_cast

AI_DECLARATION_ZH = ("本剧使用人工智能技术生成或合成部分或全部内容（画面、配音、字幕），已按《人工智能生成合成内容标识办法》"
                     "及 GB 45438-2025 添加显式标识与隐式标识。")
AI_DECLARATION_EN = ("This drama contains content generated or synthesised by AI (pictures, voices, subtitles), labelled "
                     "visibly and in metadata under the Measures for Labelling AI-Generated Content and GB 45438-2025.")


DRAMA_TYPES = {1: "1 漫剧", 2: "2 真人", 3: "3 数字真人"}
# The filing platform's field names, as a person reads them (the JSON keeps the field names themselves).
FIELD_LABELS = {
    "cost_of_production (万元)": "制作成本 cost of production (万元)",
    "content_declared (AI-generated)": "AI 内容声明 AI-generated content declared",
    "drama_type": "剧目类型 drama type",
    "剧目类型 drama_type": "剧目类型 drama type",
    "episode": "集 episode", "title": "标题 title", "duration_s": "时长 duration (s)", "synopsis": "梗概 synopsis",
    "sha256": "文件哈希 SHA-256 of the cut", "label_check": "标识检查 AI label check",
    "actual_cost_rmb": "实际成本 actual cost (RMB)", "human_review": "人工审核 human review of the takes",
}
FIELD_VALUES = {"content_declared (AI-generated)": {"1": "1 是 yes"},
                "drama_type": {str(k): v for k, v in DRAMA_TYPES.items()}}


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
        ("剧目类型 drama_type", DRAMA_TYPES[f.drama_type]),
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
    review: dict = field(default_factory=dict)  # people's decisions on the takes (the studio), Manifest.review
    assets: list[dict] = field(default_factory=list)  # library asset versions it relies on, Manifest.assets

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
                   failed_clauses=[c["clause"] for c in recorded["clauses"] if not c["ok"]] if checked else [],
                   review=manifest.review, assets=manifest.assets)


def describe_review(review: dict) -> str:
    """The human review behind an episode, in one sentence a reviewer at the platform can check."""
    if not review:
        return "not reviewed in the studio"
    return (f"{review['approved']} take(s) approved, {review['rejected']} rejected, {review['redos']} redo(s) by "
            f"{', '.join(review['reviewers'])}; last decision {review.get('last_decision_at') or '—'} (review.json)")


def online_pack(episodes: list[FiledEpisode], config: ProjectConfig) -> Pack:
    from microdrama.labels.check import check_file
    from microdrama.library import describe_rights
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
            "actual_cost_rmb": str(ep.cost_rmb), "human_review": describe_review(ep.review),
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
        ("素材权利与授权 asset rights and consents", describe_rights([a for ep in episodes for a in ep.assets]) or "—"),
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
    atomic_write_text(paths["html"], embed_font(_pack_html(pack)))
    return paths


def _field(key: str, value: object) -> str:
    """One field as a <dt>/<dd> pair: the human label first, the platform's field name under it."""
    esc = html.escape
    label = FIELD_LABELS.get(key, key)
    shown = FIELD_VALUES.get(key, {}).get(str(value), str(value))
    raw = f"<br><code>{esc(key)}</code>" if label != key else ""
    cls = " class=hash" if key == "sha256" else ""
    return f"<dt>{esc(label)}{raw}</dt><dd{cls}>{esc(shown)}</dd>"


def _pack_html(pack: Pack) -> str:
    """Readable anywhere: long text wraps in a wide column, each episode is its own block, labels are words."""
    esc = html.escape
    fields = "".join(_field(k, v) for k, v in pack.rows)
    episodes = ""
    if pack.table:
        blocks = "".join(
            f"<section><h3>第 {esc(str(item.get('episode', '')))} 集 · {esc(str(item.get('title', '')))}</h3><dl>"
            + "".join(_field(k, v) for k, v in item.items() if k not in ("episode", "title")) + "</dl></section>"
            for item in pack.table)
        episodes = f"<h2>分集 episodes</h2>{blocks}"
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{esc(pack.title)}</title>
<style>body{{font-family:{FONT_STACK};margin:28px auto;max-width:960px;padding:0 16px;color:#222;line-height:1.6}}
dl{{display:grid;grid-template-columns:minmax(11em,16em) 1fr;margin:0 0 20px;border-top:1px solid #ddd}}
dt,dd{{margin:0;padding:8px 10px;border-bottom:1px solid #ddd}} dt{{background:#f4efe9;font-weight:bold}}
dt code{{font-weight:normal;color:#777;font-size:12px;font-family:{MONO_STACK}}} dd{{white-space:pre-wrap;overflow-wrap:anywhere}}
dd.hash{{font-family:{MONO_STACK};font-size:13px}} section{{margin-bottom:12px}} h3{{margin:18px 0 6px}}
@media (max-width:640px){{dl{{grid-template-columns:1fr}} dt{{border-bottom:0}}}}</style>
<h1>{esc(pack.title)}</h1><dl>{fields}</dl>{episodes}</html>
"""
