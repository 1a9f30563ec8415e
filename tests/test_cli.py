import json

import pytest
from typer.testing import CliRunner

from microdrama.cli import app

runner = CliRunner()


def test_skills_list_shows_every_builtin_skill():
    result = runner.invoke(app, ["skills", "list"])
    assert result.exit_code == 0
    for name in ("screenplay-rules", "storyboard", "animatic", "dubbing-espeak", "subtitles", "compose-ffmpeg"):
        assert name in result.stdout


def test_every_command_has_help():
    for args in (["--help"], ["demo", "--help"], ["episode", "--help"], ["validate", "--help"],
                 ["skills", "list", "--help"], ["skills", "run", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_validate_explains_a_bad_brief_and_exits_2(tmp_path):
    bad = tmp_path / "brief.yaml"
    bad.write_text("title: x\npremise: a hero returns\ngenre: comedy\ntarget_seconds: 5\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "genre" in result.stderr and "target_seconds" in result.stderr


def test_skills_run_executes_a_skill_and_prints_usage(tmp_path):
    brief = tmp_path / "in.yaml"
    brief.write_text("brief:\n  title: T\n  premise: a hero returns\n  genre: romance\n  language: en\n")
    result = runner.invoke(app, ["skills", "run", "screenplay-rules", "-i", str(brief), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["output"]["series"]["genre"] == "romance"
    assert data["usage"]["skill"] == "screenplay-rules"


def test_unknown_skill_is_a_clear_error():
    result = runner.invoke(app, ["skills", "run", "animatik", "-i", "x.json"])
    assert result.exit_code == 2 and "Did you mean: animatic" in result.stderr


def test_label_check_exits_1_on_an_unlabelled_file(tmp_path):
    from PIL import Image

    png = tmp_path / "plain.png"
    Image.new("RGB", (32, 32)).save(png)
    result = runner.invoke(app, ["label", "check", str(png)])
    assert result.exit_code == 1 and "FAIL" in result.stdout and "no TC260 AIGC metadata" in result.stdout
    assert runner.invoke(app, ["label", "apply", str(png)]).exit_code == 0
    assert runner.invoke(app, ["label", "check", str(png)]).exit_code == 0


def test_skills_run_names_a_misspelt_key_and_its_stage(tmp_path):
    line = tmp_path / "line.yaml"
    line.write_text("line_id: s01-l1\ntext: 你好\nlanguage: zh\nvoice: {gender: female}\nemotoin: angry\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["skills", "run", "dubbing-espeak", "-i", str(line), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "emotoin: unknown key; did you mean 'emotion'?" in result.stderr and "dubbing stage" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_run_with_a_bad_skill_option_stops_before_writing(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("options:\n  video-diffusers: {stepz: 3}\n", encoding="utf-8")
    brief = tmp_path / "brief.yaml"
    brief.write_text("title: 测试\npremise: 被赶出家门的千金归来\ngenre: revenge\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["episode", str(brief), "--config", str(config), "--out", str(out)])
    assert result.exit_code == 2
    assert "options.video-diffusers" in result.stderr and "stepz: unknown key; did you mean 'steps'?" in result.stderr
    assert not out.exists()


def test_a_run_name_that_would_leave_the_output_folder_is_refused(tmp_path):
    brief = tmp_path / "brief.yaml"
    brief.write_text("title: 测试\npremise: 被赶出家门的千金归来\ngenre: revenge\n", encoding="utf-8")
    result = runner.invoke(app, ["episode", str(brief), "--out", str(tmp_path / "out"), "--name", ".."])
    assert result.exit_code == 2 and "run name '..'" in result.stderr and "--name ep01" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_run_that_fails_midway_prints_one_short_error_and_keeps_details_in_a_log(tmp_path):
    """A render that fails inside the flow (a line too long for the subtitles, found after dubbing) shows
    the reason and where the details are, not Prefect's tracebacks."""
    import os
    import subprocess
    import sys

    brief = tmp_path / "brief.yaml"
    brief.write_text("title: 测试\npremise: 被赶出家门的千金归来\ngenre: revenge\n", encoding="utf-8")
    config = tmp_path / "big.yaml"
    config.write_text("subtitles: {font_size: 200}\n", encoding="utf-8")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / ".prefect")}
    proc = subprocess.run([sys.executable, "-m", "microdrama.cli", "episode", str(brief), "--config", str(config),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) <= 6, proc.stderr
    assert "subtitle rows" in proc.stderr and f"details: {tmp_path / 'out' / 'microdrama.log'}" in proc.stderr
    assert "Traceback" in (tmp_path / "out" / "microdrama.log").read_text(encoding="utf-8")
    assert (tmp_path / "out" / "brief" / "RUN-FAILED.txt").exists()


def test_validate_refuses_a_screenplay_line_its_subtitles_cannot_hold(tmp_path):
    import copy

    import yaml

    from tests.conftest import TINY_SCREENPLAY

    data = copy.deepcopy(TINY_SCREENPLAY)
    data["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = "保安！立刻把这个穷酸女人给我赶出去，马上就去！"
    sp = tmp_path / "sp.yaml"
    sp.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cfg = tmp_path / "big.yaml"
    cfg.write_text("subtitles: {font_size: 200}\n", encoding="utf-8")
    assert runner.invoke(app, ["validate", str(sp)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(sp), "--config", str(cfg)])
    assert result.exit_code == 2 and "subtitle rows" in result.stderr and "Split it into two lines" in result.stderr


def test_quote_prices_every_paid_call_before_anything_is_sent(tmp_path, dashscope):
    import json

    import yaml

    from microdrama.assets import ASSETS_DIR

    config = tmp_path / "studio.yaml"
    config.write_text(yaml.safe_dump({
        "project_code": "RD-Q",
        "cloud": {"ali": {"adapter": "dashscope", "base_url": f"{dashscope.url}/api/v1", "api_key_env": "X_KEY"}},
        "stages": {"visuals": "video-cloud", "dubbing": "dubbing-cloud", "keyframe": "keyframe-cloud"},
        "options": {"video-cloud": {"account": "ali", "model": "wan2.2-t2v-plus", "i2v_model": "wan2.2-i2v-plus"},
                    "keyframe-cloud": {"account": "ali", "model": "wan2.2-t2i-flash"},
                    "dubbing-cloud": {"account": "ali", "model": "cosyvoice-v2",
                                      "voices": {"female": ["longxiaochun_v2"], "male": ["longcheng_v2"]}}}}),
        encoding="utf-8")
    saved = tmp_path / "quote.json"
    result = runner.invoke(app, ["quote", str(ASSETS_DIR / "demo" / "brief.yaml"), "--config", str(config),
                                 "--takes", "2", "--json", str(saved)])
    assert result.exit_code == 0, result.output
    quote = json.loads(saved.read_text(encoding="utf-8"))
    assert set(quote["by_stage"]) == {"dubbing", "keyframe", "visuals"} and float(quote["total"]) > 0
    assert sum(1 for line in quote["lines"] if line["stage"] == "visuals") % 2 == 0  # two takes per shot
    assert "Quote:" in result.output and dashscope.seen == []  # priced, nothing sent
