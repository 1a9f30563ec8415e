import csv
from datetime import date
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
