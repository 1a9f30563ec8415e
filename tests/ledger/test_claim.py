import csv
from datetime import date, datetime
from decimal import Decimal

import openpyxl

from microdrama.ledger.claim import build_claim, write_claim_pack
from microdrama.ledger.policy import PolicyRules
from tests.ledger.conftest import entry


def test_claim_pack_shows_eligible_amount_exclusion_checklist_and_chain(ledger, tmp_path):
    ev = [{"kind": k, "sha256": c * 64, "name": f"{k}.pdf"} for k, c in (("invoice", "a"), ("contract", "b"),
                                                                             ("declaration", "c"))]
    ledger.append(entry(kind="usage", category="internal_compute", amount=Decimal("0.5"), episode=1, shot_id="s01",
                        project_code="RD-1"))
    ledger.append(entry(category="corpus", amount=Decimal("20000"), affiliated=False, vendor="Good Data",
                        contract_no="C1", evidence=ev, project_code="RD-1"))
    ledger.append(entry(category="corpus", amount=Decimal("8000"), affiliated=True, vendor="Sister Co",
                        contract_no="C2", evidence=ev[:2], project_code="RD-1"))
    ledger.append(entry(category="compute_rental", amount=Decimal("3000"), vendor="GPU Cloud", project_code="RD-1",
                        evidence=[ev[1]]))  # the contract is there, the invoice is missing
    ledger.append(entry(category="staff", amount=Decimal("9000"), project_code="OTHER"))  # another project
    claim = build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30))

    assert claim.total == Decimal("31000.50")
    agent = next(r for r in claim.programmes if r.programme.id == "sh-2026-agent-skill-library")
    assert agent.eligible == Decimal("23000.50") and agent.subsidy == Decimal("4600.10")
    assert [e.vendor for e, _ in agent.excluded] == ["Sister Co"]
    compute = next(r for r in claim.programmes if r.programme.id == "sh-2025-voucher-compute")
    assert compute.subsidy == Decimal("900.00")
    assert [(e.vendor, missing) for e, missing in claim.gaps] == [("GPU Cloud", ["invoice"])]
    assert claim.verification.ok

    paths = write_claim_pack(claim, tmp_path / "pack")
    wb = openpyxl.load_workbook(paths["xlsx"])
    assert {"Summary", "By category", "By month", "Line items", "Excluded", "Evidence checklist",
            "Chain verification"} <= set(wb.sheetnames)
    summary = {row[0]: row[1] for row in wb["Summary"].iter_rows(values_only=True) if row and row[0]}
    assert summary["total R&D spend (RMB)"] == 31000.5 and summary["ledger chain"] == "valid"
    assert wb["Excluded"].max_row == 1 + 2  # header + the affiliated corpus under two programmes
    with open(paths["csv"], encoding="utf-8-sig") as f:
        assert len(list(csv.DictReader(f))) == 4
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count("<svg") == 3 and "Sister Co" in html and "invoice" in html and "chain valid" in html


def test_the_pack_puts_each_runs_quote_beside_its_actual_spend(ledger, tmp_path):
    import json

    from microdrama.ledger.claim import quote_rows

    runs = tmp_path / "out"
    for name, project, day in (("ep01", "RD-1", "2026-11-20"), ("ep02", "RD-1", "2026-12-02"),
                               ("other", "OTHER", "2026-11-20")):
        (runs / name).mkdir(parents=True)
        (runs / name / "manifest.json").write_text(json.dumps({
            "run_id": f"run-{name}", "finished_at": f"{day}T10:00:00+00:00", "config": {"project_code": project},
            "spend": {"visuals": {"quoted": "7.0", "actual": "9.1", "difference": "2.1", "calls": 4,
                                  "why": "retries, continuation takes or billed failures cost more than planned"}}}))
    claim = build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30))
    claim.quotes = quote_rows(runs, "RD-1", date(2026, 11, 1), date(2026, 11, 30))
    assert claim.quotes == [["run-ep01", "ep01", "visuals", "7.0", "9.1", "2.1", 4,
                             "retries, continuation takes or billed failures cost more than planned"]]
    paths = write_claim_pack(claim, tmp_path / "pack")
    rows = list(openpyxl.load_workbook(paths["xlsx"])["Quote vs actual"].iter_rows(values_only=True))
    assert rows[1][:6] == ("run-ep01", "ep01", "visuals", "7.0", "9.1", "2.1")
    assert "quoted before each run" in paths["html"].read_text(encoding="utf-8")


def _two_categories(ledger):
    from datetime import date as d

    ledger.append(entry(category="compute_rental", amount=Decimal("1000.005"), vendor="GPU Cloud", project_code="RD-1"))
    ledger.append(entry(category="corpus", amount=Decimal("20000"), affiliated=False, vendor="Good Data",
                        project_code="RD-1"))
    ledger.append(entry(category="compute_rental", amount=Decimal("2000.004"), vendor="GPU Cloud", project_code="RD-1",
                        occurred_on=d(2026, 11, 20)))
    return build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30))


def test_line_items_are_typed_cells_with_category_totals_equal_to_the_ledger(ledger, tmp_path):
    claim = _two_categories(ledger)
    ws = openpyxl.load_workbook(write_claim_pack(claim, tmp_path / "pack")["xlsx"])["Line items"]
    col = {name: i for i, name in enumerate(next(ws.iter_rows(max_row=1, values_only=True)))}
    rows = list(ws.iter_rows(min_row=2))
    items = [r for r in rows if r[col["seq"]].value is not None]
    assert all(isinstance(r[col["occurred_on"]].value, datetime) for r in items)
    assert all(r[col["occurred_on"]].number_format == "yyyy-mm-dd" for r in items)
    assert all(isinstance(r[col["amount_rmb"]].value, (int, float)) for r in items)
    assert all(r[col["amount_rmb"]].number_format == "#,##0.00" for r in items)
    totals = {r[col["category"]].value: r[col["amount_rmb"]].value for r in rows if r[col["seq"]].value is None
              and r[col["category"]].value}
    assert totals == {"total compute_rental": float(claim.by_category["compute_rental"]),
                      "total corpus": float(claim.by_category["corpus"]), "grand total": float(claim.total)}
    assert totals["total compute_rental"] == 3000.01  # summed unrounded, rounded once: not 1000.01 + 2000.00
    assert ws.column_dimensions["E"].width == 36 and ws.freeze_panes == "A2"


def test_line_items_print_landscape_one_page_wide_with_the_header_on_every_page(ledger, tmp_path):
    ws = openpyxl.load_workbook(write_claim_pack(_two_categories(ledger), tmp_path / "pack")["xlsx"])["Line items"]
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$1:$1"


def test_a_city_image_work_shows_the_50_percent_bonus_with_its_rule_source(ledger, tmp_path):
    from microdrama.ledger.claim import CITY_IMAGE_SOURCE

    claim = build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30), city_image=True)
    paths = write_claim_pack(claim, tmp_path / "pack")
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(paths["xlsx"])["Summary"].iter_rows(values_only=True) if r}
    assert summary["city-image bonus (RMB)"] == 1_500_000 and summary["ceiling with the bonus (RMB)"] == 4_500_000
    assert summary["rule source"] == CITY_IMAGE_SOURCE and "沪文旅规〔2026〕1号" in CITY_IMAGE_SOURCE
    html = paths["html"].read_text(encoding="utf-8")
    assert "city-image work: +50%" in html and "4,500,000.00" in html
    plain = build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30))
    assert "city-image" not in write_claim_pack(plain, tmp_path / "plain")["html"].read_text(encoding="utf-8")
