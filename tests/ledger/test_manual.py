import hashlib
from decimal import Decimal

import pytest

from microdrama.domain import parse_model
from microdrama.errors import InputError
from microdrama.ledger.manual import EvidenceStore, ManualEntry, import_csv
from microdrama.ledger.rates import RateCards

HEADER = "category,date,project,description,amount,currency,fx_rate,vendor,contract_no,invoice_no,affiliated,declaration_ref,person,role,hours,evidence\n"


@pytest.fixture
def docs(tmp_path):
    (tmp_path / "inv-1.pdf").write_bytes(b"%PDF invoice 1")
    (tmp_path / "contract-1.pdf").write_bytes(b"%PDF contract 1")
    return tmp_path


def write_csv(folder, rows):
    path = folder / "costs.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = [
    "corpus,2026-11-03,P1,方言语料,30000,RMB,,数据堂,C-01,INV-9,no,DECL-1,,,,invoice=inv-1.pdf;contract=contract-1.pdf",
    "compute_rental,2026-11-04,P1,H100 rental,1200,USD,7.1,CloudCo,C-02,INV-10,,,,,,invoice=inv-1.pdf",
    "staff,2026-11-05,P1,pipeline work,,,,,,,,,王工,engineer,16,",
]


def test_csv_import_records_every_row_and_stores_evidence_by_hash(ledger, docs):
    store = EvidenceStore(docs / "evidence")
    seqs = import_csv(write_csv(docs, GOOD), ledger, RateCards.load(), store)
    assert seqs == [1, 2, 3]
    corpus, rental, staff = ledger.entries()
    assert corpus.affiliated is False and corpus.declaration_ref == "DECL-1"
    digest = hashlib.sha256(b"%PDF invoice 1").hexdigest()
    assert {"kind": "invoice", "sha256": digest, "name": "inv-1.pdf"} in corpus.evidence
    assert store.check(corpus.evidence[0])
    assert rental.amount_rmb_stored == Decimal("8520")
    assert staff.amount_rmb_stored == Decimal("3200")  # 16 h = 2 days x 1600 (bundled card)
    assert staff.rate_ref.endswith("#staff_day.engineer")


def test_importing_the_same_file_again_records_nothing(ledger, docs):
    path = write_csv(docs, GOOD)
    import_csv(path, ledger, RateCards.load(), EvidenceStore(docs / "ev"))
    assert import_csv(path, ledger, RateCards.load(), EvidenceStore(docs / "ev")) == []
    assert len(ledger.entries()) == 3


def test_bad_rows_are_named_by_line_and_nothing_is_imported(ledger, docs):
    rows = GOOD + [
        "corpus,2026-11-06,P1,no flag,500,RMB,,Vendor,C-3,,,,,,,",          # line 5: affiliated missing
        "equipment,2026-13-01,P1,bad date,10,RMB,,Shop,,,,,,,,",            # line 6: no 13th month
        "staff,2026-11-07,P1,,,,,,,,,,李工,,8,",                            # line 7: role missing
    ]
    with pytest.raises(InputError) as exc:
        import_csv(write_csv(docs, rows), ledger, RateCards.load(), EvidenceStore(docs / "ev"))
    msg = str(exc.value)
    assert "3 bad row(s); nothing was imported" in msg
    assert "line 5" in msg and "affiliated=yes or affiliated=no" in msg
    assert "line 6" in msg and "date" in msg
    assert "line 7" in msg and "role" in msg
    assert ledger.entries() == []


def test_unknown_columns_are_refused(ledger, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("category,date,project,amout\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown column.*amout"):
        import_csv(path, ledger, RateCards.load(), EvidenceStore(tmp_path))


def test_manual_entry_rules_teach_the_fix():
    with pytest.raises(ValueError, match="needs the vendor"):
        ManualEntry(category="equipment", date="2026-11-01", project="P1", amount="10")
    with pytest.raises(ValueError, match="needs fx_rate"):
        ManualEntry(category="model_api", date="2026-11-01", project="P1", amount="10", vendor="V", currency="USD")
    with pytest.raises(ValueError, match="must be kind=path"):
        ManualEntry(category="other", date="2026-11-01", project="P1", amount="1", vendor="V", evidence="inv.pdf")


@pytest.mark.parametrize("fields, message", [
    ({"currency": "XYZ"}, "'XYZ' is not an ISO 4217 currency code"),
    ({"currency": "USS", "fx_rate": "7.1"}, "did you mean .*USD"),
    ({"amount": "1e22"}, r"less than 1E\+15"),
    ({"amount": "12.3456789"}, "no more than 6 decimal places"),
])
def test_money_is_refused_rather_than_silently_changed(fields, message):
    base = {"category": "model_api", "date": "2026-11-02", "project": "P1", "amount": "100", "vendor": "API Co"}
    with pytest.raises(InputError, match=message):
        parse_model(ManualEntry, {**base, **fields})


def test_cny_is_booked_as_rmb():
    entry = parse_model(ManualEntry, {"category": "model_api", "date": "2026-11-02", "project": "P1",
                                      "amount": "100", "vendor": "API Co", "currency": "cny"})
    assert entry.currency == "RMB" and entry.fx_rate is None
