"""Lesson 8 — The R&D cost ledger: usage becomes money, and money becomes a subsidy claim.

Why: Shanghai supports agent and skill-library R&D at up to 20% of real spend. An auditor trusts
a number only if it is attributed to a project, priced by a stated rate, backed by evidence and
impossible to edit silently. Skills report physical usage; only the ledger prices it.
"""

from datetime import date
from decimal import Decimal

from _common import out_dir
from microdrama.ledger import EntryIn, Ledger
from microdrama.ledger.claim import build_claim, write_claim_pack
from microdrama.ledger.meter import Attribution, Meter
from microdrama.ledger.policy import PolicyRules
from microdrama.ledger.rates import RateCards
from microdrama.skill import Usage

folder = out_dir("08")
(folder / "ledger.sqlite").unlink(missing_ok=True)
ledger = Ledger.at(folder / "ledger.sqlite")
meter = Meter(ledger, RateCards.load())
gpu = Usage(skill="video", version="1", backend="diffusers", gpu_seconds=3600, device="NVIDIA H100", cpu_seconds=60)
meter.record(Attribution(run_id="r1", project_code="RD-1", flow="episode", task="render-shot"), gpu, "artifact-1",
             day=date(2026, 11, 20))
ledger.append(EntryIn(kind="manual", category="corpus", project_code="RD-1", occurred_on=date(2026, 11, 21),
                      amount=Decimal("20000"), vendor="Data Co", contract_no="C1", affiliated=False))
for e in ledger.entries():
    print(f"seq {e.seq} {e.category:16s} {e.amount_rmb_stored:>12.4f} RMB  {e.rate_ref or e.vendor}")
print(ledger.verify().describe())
claim = build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30))
print("claim pack:", write_claim_pack(claim, folder / "claim"))

# Exercise: open the ledger with sqlite3 and change one amount, then run ledger.verify() again.
# Which row does it name? How would you correct a real mistake instead (hint: Ledger.reverse)?
