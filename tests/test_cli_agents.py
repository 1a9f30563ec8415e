"""`microdrama produce` and `microdrama mcp` are registered and refuse bad input before starting anything."""

from __future__ import annotations

from typer.testing import CliRunner

from microdrama.cli import app
from tests.agents.fakes import BRIEF


def test_produce_without_a_model_server_says_how_to_set_one(tmp_path, monkeypatch):
    for var in ("MICRODRAMA_LLM_BASE_URL", "MICRODRAMA_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF, encoding="utf-8")
    r = CliRunner().invoke(app, ["produce", str(brief), "--budget", "5", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "produce needs a tool-calling model" in r.output and "MICRODRAMA_LLM_BASE_URL" in r.output
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_both_commands_are_registered():
    runner = CliRunner()
    assert "--approve-above" in runner.invoke(app, ["produce", "--help"]).output
    assert "--http" in runner.invoke(app, ["mcp", "--help"]).output
