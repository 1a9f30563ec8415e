"""`microdrama assets`: add, consent, list, show, verify, retire, and a corpus purchase that reaches the claim pack."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from microdrama.cli import app
from microdrama.config import ProjectConfig
from microdrama.ledger.claim import build_claim, write_claim_pack
from microdrama.ledger.policy import PolicyRules
from microdrama.library import open_library

runner = CliRunner()


def assets(out: Path, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["assets", *args, "--out", str(out)])
    assert result.exit_code == code, result.output
    return result.output


def test_add_consent_show_verify_and_retire(tmp_path):
    out = tmp_path / "out"
    face, signed = tmp_path / "face.png", tmp_path / "consent.pdf"
    face.write_bytes(b"a face")
    signed.write_bytes(b"signed consent of zhang san")
    assets(out, "add", "char:zhang", "--name", "张三", "--look", "灰西装", "--gender", "male", "--file",
           f"image={face}", "--source", "own", "--owner", "星河影业", "--licence", "portrait release",
           "--territory", "CN", "--person", "张三")
    said = assets(out, "consent", "add", "char:zhang", "--person", "张三", "--covers", "likeness", "--scope",
                  "series 测试短剧", "--expires", "2030-12-31", "--evidence", str(signed))
    assert hashlib.sha256(signed.read_bytes()).hexdigest() in said
    shown = json.loads(assets(out, "show", "char:zhang"))
    assert shown["version"] == 2 and shown["consents"][0]["expires"] == "2030-12-31"
    assert shown["rights"]["territories"] == ["CN"] and {f["role"] for f in shown["files"]} == {"image", "consent_1"}
    assert "char:zhang@2" in assets(out, "list")
    assert "library intact" in assets(out, "verify")
    library = open_library(ProjectConfig().ledger, out_dir=out)[0]
    library.path_of(library.get("char:zhang").file("image")).write_bytes(b"another face")
    assert "image file face.png was changed" in assets(out, "verify", code=1)
    assets(out, "retire", "char:zhang", "--reason", "contract ended")
    assert "retired" in assets(out, "list")


def test_a_bad_option_is_one_line_naming_the_fix(tmp_path):
    output = assets(tmp_path / "out", "add", "char:x", "--name", "X", "--source", "own", code=2)
    assert "needs rights" in output and "--owner, --licence and --territory" in output and "Traceback" not in output
    output = assets(tmp_path / "out", "add", "char:x", "--name", "X", "--source", "own", "--owner", "S", "--licence",
                    "own work", "--territory", "CN", code=2)
    assert "a character asset needs its look (--look)" in output


def test_a_corpus_purchase_is_a_ledger_entry_the_claim_pack_lists_with_its_evidence(tmp_path):
    out = tmp_path / "out"
    docs = {}
    for role in ("contract", "invoice", "declaration", "corpus"):
        docs[role] = tmp_path / f"{role}.pdf"
        docs[role].write_bytes(f"{role} of the news corpus".encode())
    said = assets(out, "add", "corpus:news_2025", "--name", "新闻语料 2025", "--project", "RD-LIB", "--vendor",
                  "语料公司", "--contract-no", "C-17", "--invoice-no", "INV-9", "--amount", "12000", "--date",
                  "2026-11-03", "--not-affiliated", "--declaration-ref", "D-17", "--owner", "语料公司",
                  "--licence", "training use", "--territory", "CN",
                  *[a for role, p in docs.items() for a in ("--file", f"{role}={p}")])
    assert "corpus entry seq 1" in said
    library = open_library(ProjectConfig().ledger, out_dir=out)[0]
    version = library.get("corpus:news_2025")
    assert version.corpus.ledger_seq == 1 and version.provenance.vendor == "语料公司"
    claim = build_claim(library.ledger, PolicyRules.load(), "RD-LIB", date(2026, 11, 1), date(2026, 11, 30))
    paths = write_claim_pack(claim, tmp_path / "claim")
    hashes = {role: hashlib.sha256(p.read_bytes()).hexdigest() for role, p in docs.items() if role != "corpus"}
    page = paths["html"].read_text(encoding="utf-8")
    sheet = openpyxl.load_workbook(paths["xlsx"])["Corpus purchases"]
    row = [c.value for c in sheet[2]]
    assert row[2:5] == ["语料公司", "C-17", "INV-9"] and row[6] == "no"
    for role, digest in hashes.items():
        assert f"{role}: {digest}" in page and f"{role}: {digest}" in row[8]
