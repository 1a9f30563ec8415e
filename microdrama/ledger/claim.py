"""The subsidy claim pack: XLSX workbook, CSV line items and an HTML report with charts.

Everything in the pack is computed from the ledger for one project and period: totals by
category and month, the eligible and excluded amounts per programme (with reasons), the evidence
checklist, and the chain verification result, so an auditor can trace every number to an entry.
"""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from microdrama.files import atomic_write_bytes, atomic_write_text, save_workbook
from microdrama.ledger.policy import (
    PolicyRules,
    ProgrammeResult,
    compute_programme,
    evidence_gaps,
    fen,
)
from microdrama.ledger.store import Checkpoint, Entry, Ledger, VerifyResult

LINE_COLUMNS = ["seq", "occurred_on", "kind", "category", "description", "amount", "currency", "fx_rate",
                "amount_rmb", "rate_ref", "vendor", "contract_no", "invoice_no", "affiliated", "declaration_ref",
                "person", "role", "hours", "run_id", "skill", "backend", "device", "episode", "shot_id",
                "reverses_seq", "evidence", "entry_hash"]


@dataclass
class Claim:
    project: str
    start: date
    end: date
    entries: list[Entry]
    programmes: list[ProgrammeResult]
    by_category: dict[str, Decimal]
    by_month: dict[str, Decimal]
    top_shots: list[tuple[str, Decimal]]
    gaps: list[tuple[Entry, list[str]]]
    verification: VerifyResult
    checkpoint: Checkpoint | None = None  # the chain's head when the pack was made, for the auditor to keep
    quotes: list[list] = field(default_factory=list)  # per run and stage: quoted vs actual model-API spend

    @property
    def total(self) -> Decimal:
        return fen(sum((e.amount_rmb_stored for e in self.entries), Decimal(0)))


def build_claim(ledger: Ledger, rules: PolicyRules, project: str, start: date, end: date,
                checkpoints: list[Checkpoint] = ()) -> Claim:
    entries = ledger.entries(project=project, start=start, end=end)
    by_category: dict[str, Decimal] = defaultdict(Decimal)
    by_month: dict[str, Decimal] = defaultdict(Decimal)
    by_shot: dict[str, Decimal] = defaultdict(Decimal)
    for e in entries:
        by_category[e.category] += e.amount_rmb_stored
        by_month[e.occurred_on.strftime("%Y-%m")] += e.amount_rmb_stored
        if e.episode is not None:
            by_shot[f"ep{e.episode} {e.shot_id or '(episode-level)'}"] += e.amount_rmb_stored
    programmes = [compute_programme(entries, p) for p in rules.programmes if p.in_force(start, end)]
    top = sorted(by_shot.items(), key=lambda kv: kv[1], reverse=True)[:10]
    return Claim(project, start, end, entries, programmes, {k: fen(v) for k, v in sorted(by_category.items())},
                 {k: fen(v) for k, v in sorted(by_month.items())}, [(k, fen(v)) for k, v in top],
                 evidence_gaps(entries), ledger.verify(checkpoints), ledger.checkpoint_or_none())


QUOTE_COLUMNS = ["run_id", "episode", "stage", "quoted (RMB)", "actual (RMB)", "difference (RMB)", "calls", "why"]


def quote_rows(runs_dir: Path, project: str, start: date, end: date) -> list[list]:
    """Quoted against actual model-API spend, per run and stage, from the finished runs' manifests."""
    import json

    rows = []
    for manifest_path in sorted(Path(runs_dir).glob("*/manifest.json")):
        try:
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        day = str(m.get("finished_at", ""))[:10]
        if m.get("config", {}).get("project_code") != project or not (str(start) <= day <= str(end)):
            continue
        for stage, s in sorted((m.get("spend") or {}).items()):
            rows.append([m["run_id"], manifest_path.parent.name, stage, s.get("quoted") or "", s.get("actual") or "0",
                         s.get("difference") or "", s.get("calls", 0), s.get("why", "")])
    return rows


def _line(e: Entry) -> list:
    return [e.seq, e.occurred_on.isoformat(), e.kind, e.category, e.description, str(e.amount), e.currency,
            str(e.fx_rate), str(fen(e.amount_rmb_stored)), e.rate_ref or "", e.vendor or "", e.contract_no or "",
            e.invoice_no or "", "" if e.affiliated is None else ("yes" if e.affiliated else "no"),
            e.declaration_ref or "", e.person or "", e.role or "", "" if e.hours is None else str(e.hours),
            e.run_id or "", e.skill or "", e.backend or "", e.device or "", "" if e.episode is None else e.episode,
            e.shot_id or "", "" if e.reverses_seq is None else e.reverses_seq,
            "; ".join(f"{ev['kind']}:{ev['sha256'][:12]}" for ev in e.evidence), e.entry_hash]


def write_claim_pack(claim: Claim, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"xlsx": out_dir / "claim.xlsx", "csv": out_dir / "line_items.csv", "html": out_dir / "claim.html"}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(LINE_COLUMNS)
    writer.writerows(_line(e) for e in claim.entries)
    atomic_write_bytes(paths["csv"], buf.getvalue().encode("utf-8-sig"))  # BOM: Excel opens Chinese correctly
    _write_xlsx(claim, paths["xlsx"])
    atomic_write_text(paths["html"], _html(claim))
    if claim.checkpoint is not None:  # the head this pack was made from: keep it, verify the ledger against it later
        paths["checkpoint"] = atomic_write_text(out_dir / claim.checkpoint.name(),
                                                claim.checkpoint.model_dump_json(indent=2))
    return paths


def _write_xlsx(claim: Claim, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    bold = Font(bold=True)
    rows = [
        ["R&D cost claim pack"], ["project", claim.project], ["period", f"{claim.start} to {claim.end}"],
        ["total R&D spend (RMB)", float(claim.total)], ["entries", len(claim.entries)],
        ["ledger chain", "valid" if claim.verification.ok else "BROKEN"],
        ["chain head hash", claim.verification.head_hash],
        ["entries in the chain", claim.verification.entries],
        ["checkpoints matched", claim.verification.checkpoints], [],
        ["programme", "eligible (RMB)", "rate", "cap (RMB)", "supported (RMB)", "cap applied", "excluded (RMB)", "source"],
    ]
    for r in claim.programmes:
        excluded = fen(sum((e.amount_rmb_stored for e, _ in r.excluded), Decimal(0)))
        rows.append([r.programme.name, float(r.eligible), float(r.programme.rate),
                     float(r.programme.cap) if r.programme.cap else "none", float(r.subsidy),
                     "yes" if r.capped else "no", float(excluded), r.programme.source])
    for row in rows:
        ws.append(row)
    ws["A1"].font = Font(bold=True, size=14)
    for cell in ws[9]:
        cell.font = bold
    for title, data in (("By category", claim.by_category), ("By month", claim.by_month)):
        sheet = wb.create_sheet(title)
        sheet.append([title.split()[-1], "amount (RMB)"])
        for k, v in data.items():
            sheet.append([k, float(v)])
    items = wb.create_sheet("Line items")
    items.append(LINE_COLUMNS)
    for e in claim.entries:
        items.append(_line(e))
    excluded = wb.create_sheet("Excluded")
    excluded.append(["programme", "seq", "category", "vendor", "amount (RMB)", "reason"])
    for r in claim.programmes:
        for e, reason in r.excluded:
            excluded.append([r.programme.id, e.seq, e.category, e.vendor or "", float(fen(e.amount_rmb_stored)), reason])
    checklist = wb.create_sheet("Evidence checklist")
    checklist.append(["seq", "category", "vendor", "amount (RMB)", "missing"])
    for e, missing in claim.gaps:
        checklist.append([e.seq, e.category, e.vendor or "", float(fen(e.amount_rmb_stored)), ", ".join(missing)])
    quotes = wb.create_sheet("Quote vs actual")
    quotes.append(QUOTE_COLUMNS)
    for row in claim.quotes:
        quotes.append(row)
    verify = wb.create_sheet("Chain verification")
    verify.append(["result", claim.verification.describe()])
    for seq, msg in claim.verification.problems:
        verify.append([seq, msg])
    save_workbook(wb, path)


def svg_bars(data: list[tuple[str, Decimal]], width: int = 640, unit: str = "RMB") -> str:
    """A horizontal bar chart as inline SVG (no plotting library needed to read the report)."""
    if not data:
        return "<p><i>no data</i></p>"
    bar_h, label_w = 26, 200
    top = max(float(v) for _, v in data) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bar_h * len(data) + 10}" '
             'role="img" font-family="sans-serif" font-size="13">']
    for i, (label, value) in enumerate(data):
        w = max(1, int((width - label_w - 110) * float(value) / top)) if float(value) > 0 else 0
        y = 5 + i * bar_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{html.escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{bar_h - 8}" fill="#c0563b"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 17}">{value:,.2f} {unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html(claim: Claim) -> str:
    esc = html.escape
    prog_rows = "".join(
        f"<tr><td>{esc(r.programme.name)}</td><td>{r.eligible:,.2f}</td><td>{r.programme.rate:.0%}</td>"
        f"<td>{'—' if not r.programme.cap else f'{r.programme.cap:,.0f}'}</td><td><b>{r.subsidy:,.2f}</b>"
        f"{' (cap)' if r.capped else ''}</td><td><small>{esc(r.programme.source)}</small></td></tr>"
        for r in claim.programmes)
    excl_rows = "".join(
        f"<tr><td>{e.seq}</td><td>{esc(e.category)}</td><td>{esc(e.vendor or '')}</td>"
        f"<td>{fen(e.amount_rmb_stored):,.2f}</td><td>{esc(reason)}</td></tr>"
        for r in claim.programmes for e, reason in r.excluded)
    gap_rows = "".join(
        f"<tr><td>{e.seq}</td><td>{esc(e.category)}</td><td>{esc(e.vendor or '')}</td>"
        f"<td>{fen(e.amount_rmb_stored):,.2f}</td><td>{esc(', '.join(m))}</td></tr>" for e, m in claim.gaps)
    quote_rows_html = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>"
                              for row in claim.quotes)
    v = claim.verification
    status = ("<p class=ok>✓ " if v.ok else "<p class=bad>✗ ") + esc(v.describe()).replace("\n", "<br>") + "</p>"
    if claim.checkpoint is not None:
        cp = claim.checkpoint
        status += (f"<p><small>Checkpoint kept with this pack ({esc(cp.name())}): entry {cp.seq}, {cp.entries} entries, "
                   f"head {esc(cp.entry_hash)}. <code>microdrama ledger verify --checkpoint {esc(cp.name())}</code> "
                   "later proves that nothing up to it was deleted or rewritten.</small></p>")
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>R&amp;D claim · {esc(claim.project)} · {claim.start} – {claim.end}</title>
<style>body{{font-family:'Noto Sans SC',sans-serif;margin:28px;max-width:1000px;color:#222}}
table{{border-collapse:collapse;margin:8px 0 20px}} td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left}}
th{{background:#f4efe9}} .ok{{color:#1a7f37}} .bad{{color:#b42318;font-weight:bold}} small{{color:#666}}</style>
<h1>R&amp;D cost claim pack</h1>
<p>Project <b>{esc(claim.project)}</b> · {claim.start} – {claim.end} · {len(claim.entries)} ledger entries ·
total R&amp;D spend <b>{claim.total:,.2f} RMB</b></p>
<h2>Ledger integrity</h2>{status}
<h2>Support by programme</h2>
<table><tr><th>programme</th><th>eligible (RMB)</th><th>rate</th><th>cap</th><th>supported (RMB)</th><th>source</th></tr>
{prog_rows}</table>
<h2>Cost by category</h2>{svg_bars(list(claim.by_category.items()))}
<h2>Cost by month</h2>{svg_bars(list(claim.by_month.items()))}
<h2>Most expensive episodes and shots</h2>{svg_bars(claim.top_shots)}
<h2>Model-API spend: quoted before each run, actual after</h2>
<table><tr>{''.join(f"<th>{esc(c)}</th>" for c in QUOTE_COLUMNS)}</tr>{quote_rows_html or '<tr><td colspan=8>no run folders given (--runs)</td></tr>'}</table>
<h2>Excluded amounts</h2>
<table><tr><th>seq</th><th>category</th><th>vendor</th><th>RMB</th><th>reason</th></tr>{excl_rows or '<tr><td colspan=5>none</td></tr>'}</table>
<h2>Evidence checklist</h2>
<table><tr><th>seq</th><th>category</th><th>vendor</th><th>RMB</th><th>missing</th></tr>{gap_rows or '<tr><td colspan=5>complete</td></tr>'}</table>
<p><small>Amounts are summed unrounded and rounded once, half-up to 0.01 RMB. Line items with their rate
references and hashes are in line_items.csv and claim.xlsx.</small></p></html>
"""
