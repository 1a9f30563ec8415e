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
from microdrama.html_fonts import FONT_STACK, embed_font
from microdrama.ledger.policy import (
    PolicyRules,
    ProgrammeResult,
    compute_programme,
    evidence_gaps,
    fen,
)
from microdrama.ledger.store import Checkpoint, Entry, Ledger, VerifyResult

# The 2026 measures add 50% to the 精品创作 award for works that lift the city's image (城市形象·文旅). The award is
# decided on review, not computed from R&D spend, so the pack shows the raised ceiling and where the rule comes from.
CITY_IMAGE_BONUS_RATE = Decimal("0.50")
QUALITY_AWARD_CAP = Decimal("3000000")
CITY_IMAGE_SOURCE = ("沪文旅规〔2026〕1号《上海市加快推进人工智能赋能微短剧高质量发展的若干措施》三、激励优质内容创作 "
                     "2. 支持精品创作: 「给予最高 300 万元奖励。对提升城市形象、促进文商旅体展联动发展作用明显的精品微短剧，"
                     "在上述标准基础上增加 50% 的扶持额度。」")

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
    city_image: bool = False  # the work is flagged filing.city_image: the pack shows the +50% award ceiling

    def city_image_bonus(self) -> list[tuple[str, Decimal | str]] | None:
        """The +50% calculation, line by line with its source; None unless the work is a city-image work."""
        if not self.city_image:
            return None
        bonus = fen(QUALITY_AWARD_CAP * CITY_IMAGE_BONUS_RATE)
        return [("精品创作 award ceiling (RMB)", QUALITY_AWARD_CAP), ("city-image bonus rate", CITY_IMAGE_BONUS_RATE),
                ("city-image bonus (RMB)", bonus), ("ceiling with the bonus (RMB)", fen(QUALITY_AWARD_CAP + bonus)),
                ("rule source", CITY_IMAGE_SOURCE)]

    @property
    def total(self) -> Decimal:
        return fen(sum((e.amount_rmb_stored for e in self.entries), Decimal(0)))


def build_claim(ledger: Ledger, rules: PolicyRules, project: str, start: date, end: date,
                checkpoints: list[Checkpoint] = (), city_image: bool = False) -> Claim:
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
                 evidence_gaps(entries), ledger.verify(checkpoints), ledger.checkpoint_or_none(), city_image=city_image)


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


CORPUS_COLUMNS = ["seq", "occurred_on", "vendor", "contract_no", "invoice_no", "amount (RMB)", "affiliated",
                  "declaration_ref", "evidence (kind: sha256)"]


def corpus_rows(claim: Claim) -> list[list]:
    """Each corpus purchase with its full evidence hashes (contract, invoice, non-affiliation declaration), so an
    auditor can match the documents byte for byte; `microdrama assets add corpus:…` records them."""
    return [[e.seq, e.occurred_on.isoformat(), e.vendor or "", e.contract_no or "", e.invoice_no or "",
             fen(e.amount_rmb_stored), "" if e.affiliated is None else ("yes" if e.affiliated else "no"),
             e.declaration_ref or "", "; ".join(f"{ev['kind']}: {ev['sha256']}" for ev in e.evidence) or "none"]
            for e in claim.entries if e.category == "corpus" and e.kind == "manual"]


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
    atomic_write_text(paths["html"], embed_font(_html(claim)))
    if claim.checkpoint is not None:  # the head this pack was made from: keep it, verify the ledger against it later
        paths["checkpoint"] = atomic_write_text(out_dir / claim.checkpoint.name(),
                                                claim.checkpoint.model_dump_json(indent=2))
    return paths


MONEY = "#,##0.00"
DATE = "yyyy-mm-dd"
# Line-item columns that hold money, and the widths an auditor can read without resizing.
MONEY_COLUMNS = {"amount", "amount_rmb"}
WIDTHS = {"seq": 6, "occurred_on": 11, "kind": 9, "category": 16, "description": 36, "amount": 14, "currency": 8,
          "fx_rate": 9, "amount_rmb": 14, "rate_ref": 22, "vendor": 18, "contract_no": 14, "invoice_no": 14,
          "evidence": 30, "entry_hash": 18}


def _typed_line(e: Entry) -> list:
    """A line item as cell values: numbers stay numbers and dates stay dates, so the sheet sums and sorts."""
    row = _line(e)
    row[1], row[5], row[7], row[8] = e.occurred_on, e.amount, e.fx_rate, fen(e.amount_rmb_stored)
    if e.hours is not None:
        row[17] = e.hours
    return row


def _print_setup(ws, header_rows: int = 1) -> None:
    """Landscape, one page wide, the header repeated on every printed page and frozen on screen."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = f"1:{header_rows}"
    ws.freeze_panes = ws.cell(row=header_rows + 1, column=1).coordinate


def _write_line_items(claim: Claim, ws) -> None:
    """Line items grouped by category, a subtotal under each group and the grand total last. The totals are
    the ledger's sums (unrounded, rounded once), not sums of the rounded cells, so they match the summary."""
    from openpyxl.styles import Border, Font, Side
    from openpyxl.utils import get_column_letter

    bold, rule = Font(bold=True), Border(top=Side(style="thin"))
    ws.append(LINE_COLUMNS)
    for cell in ws[1]:
        cell.font = bold
    rmb_col, label_col = LINE_COLUMNS.index("amount_rmb") + 1, LINE_COLUMNS.index("category") + 1
    for category, total in claim.by_category.items():
        for e in sorted((e for e in claim.entries if e.category == category), key=lambda e: e.seq):
            ws.append(_typed_line(e))
        row = ws.max_row + 1
        for cell in (ws.cell(row=row, column=label_col, value=f"total {category}"),
                     ws.cell(row=row, column=rmb_col, value=total)):
            cell.font, cell.border = bold, rule
    row = ws.max_row + 1
    ws.cell(row=row, column=label_col, value="grand total").font = bold
    grand = ws.cell(row=row, column=rmb_col, value=claim.total)
    grand.font, grand.border = Font(bold=True, size=12), Border(top=Side(style="double"))
    for i, name in enumerate(LINE_COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = WIDTHS.get(name, 12)
        for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
            if name in MONEY_COLUMNS:
                cell.number_format = MONEY
            elif name == "occurred_on":
                cell.number_format = DATE
    ws.auto_filter.ref = f"A1:{get_column_letter(len(LINE_COLUMNS))}1"
    _print_setup(ws)


def _write_xlsx(claim: Claim, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    bold = Font(bold=True)
    rows = [
        ["R&D cost claim pack"], ["project", claim.project], ["period", f"{claim.start} to {claim.end}"],
        ["total R&D spend (RMB)", claim.total], ["entries", len(claim.entries)],
        ["ledger chain", "valid" if claim.verification.ok else "BROKEN"],
        ["chain head hash", claim.verification.head_hash],
        ["entries in the chain", claim.verification.entries],
        ["checkpoints matched", claim.verification.checkpoints], [],
        ["programme", "eligible (RMB)", "rate", "cap (RMB)", "supported (RMB)", "cap applied", "excluded (RMB)", "source"],
    ]
    header_row = len(rows)
    for r in claim.programmes:
        excluded = fen(sum((e.amount_rmb_stored for e, _ in r.excluded), Decimal(0)))
        rows.append([r.programme.name, r.eligible, r.programme.rate, r.programme.cap or "none", r.subsidy,
                     "yes" if r.capped else "no", excluded, r.programme.source])
    for row in rows:
        ws.append(row)
    for row in ws.iter_rows(min_row=header_row + 1, max_col=7):
        for cell in row:
            cell.number_format = "0%" if cell.column == 3 else MONEY
    ws["B4"].number_format = MONEY
    bonus = claim.city_image_bonus()
    if bonus:
        ws.append([None])
        ws.append(["城市形象·文旅 city-image work (+50%)"])
        ws.cell(row=ws.max_row, column=1).font = bold
        for label, value in bonus:
            ws.append([label, value])
            ws.cell(row=ws.max_row, column=2).number_format = "0%" if "rate" in label else MONEY
    ws["A1"].font = Font(bold=True, size=14)
    for cell in ws[header_row]:
        cell.font = bold
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 42, 18
    ws.column_dimensions["H"].width = 60
    for title, data in (("By category", claim.by_category), ("By month", claim.by_month)):
        sheet = wb.create_sheet(title)
        sheet.append([title.split()[-1], "amount (RMB)"])
        for k, v in data.items():
            sheet.append([k, v])
            sheet.cell(row=sheet.max_row, column=2).number_format = MONEY
        sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 20, 16
    _write_line_items(claim, wb.create_sheet("Line items"))
    excluded = wb.create_sheet("Excluded")
    excluded.append(["programme", "seq", "category", "vendor", "amount (RMB)", "reason"])
    for r in claim.programmes:
        for e, reason in r.excluded:
            excluded.append([r.programme.id, e.seq, e.category, e.vendor or "", fen(e.amount_rmb_stored), reason])
    checklist = wb.create_sheet("Evidence checklist")
    checklist.append(["seq", "category", "vendor", "amount (RMB)", "missing"])
    for e, missing in claim.gaps:
        checklist.append([e.seq, e.category, e.vendor or "", fen(e.amount_rmb_stored), ", ".join(missing)])
    corpus = wb.create_sheet("Corpus purchases")
    for row in [CORPUS_COLUMNS, *corpus_rows(claim)]:
        corpus.append(row)
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
             f'role="img" font-family="{html.escape(FONT_STACK)}" font-size="13">']
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
    corpus_html = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in corpus_rows(claim))
    v = claim.verification
    status = ("<p class=ok>✓ " if v.ok else "<p class=bad>✗ ") + esc(v.describe()).replace("\n", "<br>") + "</p>"
    if claim.checkpoint is not None:
        cp = claim.checkpoint
        status += (f"<p><small>Checkpoint kept with this pack ({esc(cp.name())}): entry {cp.seq}, {cp.entries} entries, "
                   f"head {esc(cp.entry_hash)}. <code>microdrama ledger verify --checkpoint {esc(cp.name())}</code> "
                   "later proves that nothing up to it was deleted or rewritten.</small></p>")
    bonus = claim.city_image_bonus()
    city = ""
    if bonus:
        cells = "".join(f"<tr><th>{esc(k)}</th><td>{v:.0%}</td></tr>" if isinstance(v, Decimal) and v < 1 else
                        f"<tr><th>{esc(k)}</th><td>{v:,.2f}</td></tr>" if isinstance(v, Decimal) else
                        f"<tr><th>{esc(k)}</th><td><small>{esc(v)}</small></td></tr>" for k, v in bonus)
        city = ("<h2>城市形象·文旅 city-image work: +50%</h2><p>This work is flagged as a city-image work "
                "(<code>filing.city_image</code>). The award is granted on review; the bonus raises its ceiling:</p>"
                f"<table>{cells}</table>")
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>R&amp;D claim · {esc(claim.project)} · {claim.start} – {claim.end}</title>
<style>body{{font-family:{FONT_STACK};margin:28px;max-width:1000px;color:#222}}
table{{border-collapse:collapse;margin:8px 0 20px}} td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left}}
th{{background:#f4efe9}} .ok{{color:#1a7f37}} .bad{{color:#b42318;font-weight:bold}} small{{color:#666}}</style>
<h1>R&amp;D cost claim pack</h1>
<p>Project <b>{esc(claim.project)}</b> · {claim.start} – {claim.end} · {len(claim.entries)} ledger entries ·
total R&amp;D spend <b>{claim.total:,.2f} RMB</b></p>
<h2>Ledger integrity</h2>{status}
<h2>Support by programme</h2>
<table><tr><th>programme</th><th>eligible (RMB)</th><th>rate</th><th>cap</th><th>supported (RMB)</th><th>source</th></tr>
{prog_rows}</table>{city}
<h2>Cost by category</h2>{svg_bars(list(claim.by_category.items()))}
<h2>Cost by month</h2>{svg_bars(list(claim.by_month.items()))}
<h2>Most expensive episodes and shots</h2>{svg_bars(claim.top_shots)}
<h2>Model-API spend: quoted before each run, actual after</h2>
<table><tr>{''.join(f"<th>{esc(c)}</th>" for c in QUOTE_COLUMNS)}</tr>{quote_rows_html or '<tr><td colspan=8>no run folders given (--runs)</td></tr>'}</table>
<h2>Excluded amounts</h2>
<table><tr><th>seq</th><th>category</th><th>vendor</th><th>RMB</th><th>reason</th></tr>{excl_rows or '<tr><td colspan=5>none</td></tr>'}</table>
<h2>Corpus purchases</h2>
<table><tr>{''.join(f"<th>{esc(c)}</th>" for c in CORPUS_COLUMNS)}</tr>{corpus_html or '<tr><td colspan=9>none</td></tr>'}</table>
<h2>Evidence checklist</h2>
<table><tr><th>seq</th><th>category</th><th>vendor</th><th>RMB</th><th>missing</th></tr>{gap_rows or '<tr><td colspan=5>complete</td></tr>'}</table>
<p><small>Amounts are summed unrounded and rounded once, half-up to 0.01 RMB. Line items with their rate
references and hashes are in line_items.csv and claim.xlsx.</small></p></html>
"""
