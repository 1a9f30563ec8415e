from datetime import date
from decimal import Decimal

from microdrama.domain import parse_model
from microdrama.ledger.policy import PolicyRules, compute_programme, evidence_gaps
from tests.ledger.conftest import entry

RULES = {"programmes": [
    {"id": "agent", "name": "agent R&D", "effective_from": "2026-01-01", "source": "notice 1", "rate": "0.20",
     "cap": "900", "categories": ["staff", "corpus", "model_api"], "exclude_affiliated_corpus": True},
    {"id": "api", "name": "API voucher", "effective_from": "2025-01-01", "source": "notice 2", "rate": "0.5",
     "categories": ["model_api"]},
]}


def test_hand_computed_claim_with_exclusion_and_cap(ledger):
    rules = parse_model(PolicyRules, RULES)
    ledger.append(entry(category="staff", amount=Decimal("3000")))
    ledger.append(entry(category="corpus", amount=Decimal("2000"), affiliated=False, vendor="A", contract_no="1"))
    ledger.append(entry(category="corpus", amount=Decimal("1500"), affiliated=True, vendor="B", contract_no="2"))
    ledger.append(entry(category="model_api", amount=Decimal("100"), currency="USD", fx_rate=Decimal("7.1")))
    ledger.append(entry(category="equipment", amount=Decimal("9999")))  # not in either programme
    entries = ledger.entries()
    agent = compute_programme(entries, rules.programmes[0])
    # eligible = 3000 + 2000 + 710 = 5710; 20% = 1142 > cap 900
    assert agent.eligible == Decimal("5710.00")
    assert agent.subsidy == Decimal("900.00") and agent.capped
    assert [(e.seq, "affiliated party" in reason) for e, reason in agent.excluded] == [(3, True)]
    api = compute_programme(entries, rules.programmes[1])
    assert (api.eligible, api.subsidy, api.capped) == (Decimal("710.00"), Decimal("355.00"), False)


def test_amounts_are_summed_then_rounded_once(ledger):
    rules = parse_model(PolicyRules, RULES)
    for _ in range(3):
        ledger.append(entry(category="staff", amount=Decimal("0.005")))
    result = compute_programme(ledger.entries(), rules.programmes[0])
    assert result.eligible == Decimal("0.02")  # 0.015 rounded half-up; rounding each line first would give 0.03
    assert result.subsidy == Decimal("0.00")  # 0.003


def test_a_reversal_follows_its_entry_out_of_the_claim(ledger):
    rules = parse_model(PolicyRules, RULES)
    ledger.append(entry(category="corpus", amount=Decimal("1500"), affiliated=True, vendor="B", contract_no="2"))
    ledger.reverse(1, "duplicate")
    result = compute_programme(ledger.entries(), rules.programmes[0])
    assert result.eligible == Decimal("0.00") and len(result.excluded) == 2


def test_evidence_checklist_names_what_is_missing(ledger):
    ledger.append(entry(category="corpus", amount=Decimal("10"), affiliated=False, vendor="A", contract_no="1",
                        evidence=[{"kind": "contract", "sha256": "a" * 64, "name": "c.pdf"}]))
    ledger.append(entry(category="staff", amount=Decimal("10")))
    gaps = evidence_gaps(ledger.entries())
    assert [(e.seq, missing) for e, missing in gaps] == [(1, ["invoice", "declaration"])]


def test_bundled_rules_carry_their_sources_and_the_policy_numbers():
    rules = PolicyRules.load()
    agent = next(p for p in rules.programmes if p.id == "sh-2026-agent-skill-library")
    assert agent.rate == Decimal("0.20") and agent.cap == Decimal("10000000")
    assert all(p.source for p in rules.programmes)
    assert date(2026, 1, 1) == agent.effective_from
