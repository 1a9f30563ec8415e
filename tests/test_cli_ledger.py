import sqlite3

from typer.testing import CliRunner

from microdrama.cli import app

runner = CliRunner()


def invoke(tmp_path, *args):
    return runner.invoke(app, [*args, "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"])


def test_add_verify_and_catch_a_plain_sql_edit(tmp_path):
    (tmp_path / "inv.pdf").write_bytes(b"invoice")
    ok = invoke(tmp_path, "ledger", "add", "--category", "corpus", "--project", "P1", "--date", "2026-11-02",
                "--amount", "5000", "--vendor", "Data Co", "--contract-no", "C1", "--not-affiliated",
                "--evidence", f"invoice={tmp_path / 'inv.pdf'}")
    assert ok.exit_code == 0, ok.stderr
    invoke(tmp_path, "ledger", "add", "--category", "equipment", "--project", "P1", "--date", "2026-11-02",
           "--amount", "100", "--vendor", "Shop")
    assert invoke(tmp_path, "ledger", "verify").exit_code == 0
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    con.execute("UPDATE ledger_entries SET amount_rmb = '50.000000' WHERE seq = 1")
    con.commit()
    con.close()
    broken = invoke(tmp_path, "ledger", "verify")
    assert broken.exit_code == 1 and "seq 1: content edited" in broken.stderr


def test_bad_manual_entry_is_explained(tmp_path):
    result = invoke(tmp_path, "ledger", "add", "--category", "corpus", "--project", "P1", "--date", "2026-11-02",
                    "--amount", "5000", "--vendor", "Data Co", "--contract-no", "C1")
    assert result.exit_code == 2 and "affiliated=yes or affiliated=no" in result.stderr


def test_claim_command_writes_the_pack(tmp_path):
    invoke(tmp_path, "ledger", "add", "--category", "staff", "--project", "P1", "--date", "2026-11-02",
           "--person", "Li", "--role", "engineer", "--hours", "8")
    result = runner.invoke(app, ["ledger", "claim", "--project", "P1", "--from", "2026-11-01", "--to", "2026-11-30",
                                 "--out", str(tmp_path / "pack"), "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "pack" / "claim.xlsx").exists() and (tmp_path / "pack" / "claim.html").exists()
    assert "1,600.00" in result.stdout


def test_a_checkpoint_catches_entries_cut_from_the_end(tmp_path):
    for amount in ("100", "200"):
        invoke(tmp_path, "ledger", "add", "--category", "equipment", "--project", "P1", "--date", "2026-11-02",
               "--amount", amount, "--vendor", "Shop")
    made = invoke(tmp_path, "ledger", "checkpoint")
    assert made.exit_code == 0 and "checkpoint at entry 2" in made.stdout
    assert list((tmp_path / "evidence" / "checkpoints").glob("checkpoint-00000002-*.json"))
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    first_hash = con.execute("SELECT entry_hash FROM ledger_entries WHERE seq = 1").fetchone()[0]
    con.execute("DELETE FROM ledger_entries WHERE seq = 2")
    con.execute("UPDATE ledger_chain_head SET seq = 1, entry_hash = ? WHERE id = 1", (first_hash,))
    con.commit()
    con.close()
    broken = invoke(tmp_path, "ledger", "verify")
    assert broken.exit_code == 1 and "entry 2, which is gone" in broken.stderr


def test_the_claim_pack_carries_the_checkpoint_it_was_made_from(tmp_path):
    import json

    invoke(tmp_path, "ledger", "add", "--category", "equipment", "--project", "P1", "--date", "2026-11-02",
           "--amount", "100", "--vendor", "Shop")
    result = runner.invoke(app, ["ledger", "claim", "--project", "P1", "--from", "2026-11-01", "--to", "2026-11-30",
                                 "--out", str(tmp_path / "pack"), "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"])
    assert result.exit_code == 0, result.stderr
    kept = list((tmp_path / "pack").glob("checkpoint-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["entries"] == 1
    assert "ledger verify --checkpoint" in (tmp_path / "pack" / "claim.html").read_text(encoding="utf-8")
    again = runner.invoke(app, ["ledger", "verify", "--checkpoint", str(kept[0]),
                                "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"])
    assert again.exit_code == 0 and "matches" in again.stdout


def test_a_new_sqlite_ledger_in_a_missing_folder_is_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'books' / '2026' / 'ledger.sqlite'}"
    result = runner.invoke(app, ["ledger", "verify", "--ledger", url])
    assert result.exit_code == 0 and "chain valid: 0 entries" in result.stdout
    assert (tmp_path / "books" / "2026" / "ledger.sqlite").exists()
