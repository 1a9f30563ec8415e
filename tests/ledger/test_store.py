import multiprocessing as mp
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from microdrama.errors import InputError
from microdrama.ledger import Ledger
from tests.ledger.conftest import entry


def plain_sql(url: str, statement: str) -> None:
    """Tamper the way an insider would: straight SQL, bypassing the ledger."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_appends_form_a_valid_chain(ledger):
    for i in range(5):
        ledger.append(entry(amount=Decimal(i + 1)))
    result = ledger.verify()
    assert result.ok and result.entries == 5
    assert [e.seq for e in ledger.entries()] == [1, 2, 3, 4, 5]


def test_schema_is_migrated_and_reopening_is_harmless(ledger, ledger_url):
    ledger.append(entry())
    again = Ledger(ledger_url)
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    assert len(again.entries()) == 1
    again.engine.dispose()


def test_idempotency_key_records_once(ledger):
    first = ledger.append(entry(idempotency_key="usage:abc:cpu_seconds"))
    second = ledger.append(entry(idempotency_key="usage:abc:cpu_seconds"))
    assert first == (1, True) and second == (1, False)
    assert len(ledger.entries()) == 1


def test_money_is_exact_and_fx_is_recorded(ledger):
    ledger.append(entry(amount=Decimal("0.1"), category="model_api"))
    ledger.append(entry(amount=Decimal("0.2"), category="model_api"))
    ledger.append(entry(amount=Decimal("100"), currency="USD", fx_rate=Decimal("7.1034"), category="compute_rental"))
    rows = ledger.entries()
    assert rows[0].amount_rmb_stored + rows[1].amount_rmb_stored == Decimal("0.3")
    assert rows[2].amount_rmb_stored == Decimal("710.34") and rows[2].fx_rate == Decimal("7.1034")


def test_foreign_currency_without_fx_is_refused(ledger):
    with pytest.raises(InputError, match="needs fx_rate"):
        ledger.append(entry(currency="USD"))


def test_corrections_are_reversals_not_edits(ledger):
    ledger.append(entry(amount=Decimal("250")))
    seq = ledger.reverse(1, "wrong project")
    rows = ledger.entries()
    assert rows[1].kind == "reversal" and rows[1].reverses_seq == 1 and rows[1].amount == Decimal("-250")
    assert sum(r.amount_rmb_stored for r in rows) == 0
    with pytest.raises(InputError, match="already reversed by seq 2"):
        ledger.reverse(1, "again")
    with pytest.raises(InputError, match="itself a reversal"):
        ledger.reverse(seq, "undo the undo")
    assert ledger.verify().ok


def test_an_edited_row_is_named(ledger, ledger_url):
    for _ in range(4):
        ledger.append(entry())
    plain_sql(ledger_url, "UPDATE ledger_entries SET amount_rmb = '1.000000' WHERE seq = 3")
    result = ledger.verify()
    assert not result.ok
    assert (3, "content edited: its hash no longer matches its fields") in result.problems


def test_a_deleted_row_is_named(ledger, ledger_url):
    for _ in range(4):
        ledger.append(entry())
    plain_sql(ledger_url, "DELETE FROM ledger_entries WHERE seq = 2")
    result = ledger.verify()
    assert not result.ok and result.problems[0][0] == 2 and "deleted" in result.problems[0][1]


def test_deleting_the_last_row_is_caught_by_the_head(ledger, ledger_url):
    for _ in range(3):
        ledger.append(entry())
    plain_sql(ledger_url, "DELETE FROM ledger_entries WHERE seq = 3")
    result = ledger.verify()
    assert not result.ok and "deleted from the end" in result.describe()


def test_a_row_inserted_in_the_middle_is_named(ledger, ledger_url):
    from microdrama.ledger.store import entry_hash

    for _ in range(3):
        ledger.append(entry())
    # Make room at seq 2 and insert a forged row whose own hash is even recomputed correctly.
    plain_sql(ledger_url, "UPDATE ledger_entries SET seq = seq + 1000 WHERE seq >= 2")
    plain_sql(ledger_url, "UPDATE ledger_entries SET seq = seq - 999 WHERE seq >= 1000")
    engine = create_engine(ledger_url)
    with engine.begin() as conn:
        row = dict(conn.execute(text("SELECT * FROM ledger_entries WHERE seq = 1")).mappings().one())
        row.update(seq=2, description="forged", prev_hash=row["entry_hash"])
        row["entry_hash"] = entry_hash(row)
        cols = ", ".join(row)
        conn.execute(text(f"INSERT INTO ledger_entries ({cols}) VALUES ({', '.join(':' + c for c in row)})"), row)
    engine.dispose()
    result = ledger.verify()
    assert not result.ok
    assert (3, "link broken: the row before it was edited, inserted or deleted") in result.problems


def test_a_forged_row_at_the_end_is_named(ledger, ledger_url):
    for _ in range(3):
        ledger.append(entry())
    plain_sql(ledger_url, """INSERT INTO ledger_entries (seq, recorded_at, kind, category, project_code,
        occurred_on, description, amount, currency, fx_rate, amount_rmb, evidence, details, prev_hash, entry_hash)
        SELECT 4, recorded_at, kind, category, project_code, occurred_on, 'forged', amount, currency, fx_rate,
        amount_rmb, evidence, details, entry_hash, entry_hash FROM ledger_entries WHERE seq = 3""")
    result = ledger.verify()
    assert not result.ok
    assert any(seq == 4 for seq, _ in result.problems)


def _writer(url: str, worker: int, count: int) -> None:
    led = Ledger(url)
    for i in range(count):
        led.append(entry(amount=Decimal(i), description=f"w{worker}-{i}", idempotency_key=f"w{worker}-{i}"))
    led.engine.dispose()


def test_concurrent_writers_lose_nothing_and_keep_the_chain(ledger, ledger_url):
    workers, per_worker = 4, 500  # 2,000 entries from 4 processes
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(ledger_url, w, per_worker)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    rows = ledger.entries()
    assert len(rows) == workers * per_worker
    assert {r.description for r in rows} == {f"w{w}-{i}" for w in range(workers) for i in range(per_worker)}
    assert ledger.verify().ok


def _rewind_head(url: str, seq: int, entry_hash: str) -> None:
    plain_sql(url, f"UPDATE ledger_chain_head SET seq = {seq}, entry_hash = '{entry_hash}' WHERE id = 1")


def test_tail_truncation_with_a_rewound_head_is_caught_by_a_checkpoint(ledger, ledger_url):
    for i in range(4):
        ledger.append(entry(amount=Decimal(i + 1)))
    cp = ledger.checkpoint()
    assert (cp.seq, cp.entries) == (4, 4)
    third = ledger.get(3)
    plain_sql(ledger_url, "DELETE FROM ledger_entries WHERE seq = 4")
    _rewind_head(ledger_url, 3, third.entry_hash)
    assert ledger.verify().ok  # without an outside record, a clean cut at the end cannot be seen
    result = ledger.verify([cp])
    assert not result.ok and "entry 4, which is gone" in result.describe()


def test_a_wiped_or_rewritten_ledger_fails_its_checkpoint(ledger, ledger_url, tmp_path):
    from microdrama.ledger.manual import load_checkpoints, save_checkpoint

    for i in range(3):
        ledger.append(entry(amount=Decimal(i + 1)))
    save_checkpoint(ledger.checkpoint(), tmp_path / "kept")
    cp = load_checkpoints(tmp_path / "kept")
    from microdrama.ledger.schema import GENESIS

    plain_sql(ledger_url, "DELETE FROM ledger_entries")
    _rewind_head(ledger_url, 0, GENESIS)
    rewritten = Ledger(ledger_url)  # a fresh chain, written through the ledger: valid on its own
    for i in range(3):
        rewritten.append(entry(amount=Decimal(10 * (i + 1))))
    assert rewritten.verify().ok
    result = rewritten.verify(cp)
    assert not result.ok and "rewritten" in result.describe()


def test_a_broken_chain_cannot_be_checkpointed(ledger, ledger_url):
    ledger.append(entry())
    plain_sql(ledger_url, "UPDATE ledger_entries SET description = 'edited' WHERE seq = 1")
    with pytest.raises(InputError, match="cannot be checkpointed"):
        ledger.checkpoint()


def test_appending_after_the_head_row_was_deleted_is_a_clear_error(ledger, ledger_url):
    ledger.append(entry())
    plain_sql(ledger_url, "DELETE FROM ledger_chain_head")
    with pytest.raises(InputError, match="lost its chain head row"):
        ledger.append(entry(amount=Decimal(2)))
