"""Hostile and careless input, through the real CLI: every case must end in a short, named error.

For each case: a non-zero exit, an `error:` line naming the field or file and the fix, no traceback,
no file written outside `--out` (or the ledger's folder), and no run folder that looks finished.
Cases that would start a render are limited to those refused before Prefect starts (fast).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microdrama.cli import app

runner = CliRunner()

BRIEF = "title: 测试\npremise: 被赶出家门的千金归来\ngenre: revenge\n"
SCREENPLAY = """series:
  title: 测试短剧
  logline: 一个关于测试的故事
  genre: revenge
  language: zh
  characters:
    - {id: lin, name: 林夏, look: 白衬衫, voice: {gender: female}}
episode:
  number: 1
  title: 归来
  hook: 开场即冲突
  cliffhanger: 一条短信
  scenes:
    - id: sc1
      location: 宴会厅
      shots:
        - {id: s01, shot_size: close_up, visual_prompt: 林夏特写, characters: [lin],
           lines: [{speaker: lin, text: 我回来了。}]}
"""
LINE = "line_id: s01-l1\ntext: 你好\nlanguage: zh\nvoice: {gender: female}\n"
LEDGER = ["--ledger", "sqlite:///{tmp}/out/ledger.sqlite"]
ADD = ["ledger", "add", "--category", "equipment", "--project", "P1", "--date", "2026-11-02", "--vendor", "Shop"]
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def sp(old: str, new: str) -> str:
    assert old in SCREENPLAY
    return SCREENPLAY.replace(old, new)


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str  # a fragment of the error: names the field, file or fix
    files: dict[str, str | bytes] = field(default_factory=dict)


def validate(name, text, expect, kind="auto"):
    return Case(name, ["validate", "{tmp}/in.yaml", "--kind", kind], expect, {"in.yaml": text})


CASES = [
    # -- briefs: malformed, wrong shapes, wrong types, bombs, encodings, sizes -------------------------------
    validate("unclosed bracket", "title: [测试\n", "not valid YAML/JSON"),
    validate("broken json", '{"title": "x", "genre": }', "genre"),
    validate("truncated json", '{"title": "x", "gen', "not valid YAML/JSON"),
    validate("empty file", "", "expected a mapping of fields"),
    validate("a list, not a mapping", "- title\n- premise\n", "expected a mapping of fields, got list"),
    validate("a bare string", "just some words\n", "expected a mapping of fields, got str"),
    validate("alias bomb", BOMB, "aliases (*name) are not accepted"),
    validate("duplicate key", BRIEF + "title: 又一个\n", "the key 'title' appears twice"),
    validate("gbk encoding", BRIEF.encode("gbk"), "GBK/GB18030"),
    validate("latin-1 bytes", "title: Caf\xe9\npremise: x\n".encode("latin-1"), "is not UTF-8"),
    validate("binary garbage", b"\x00\x01\x02\xff\xfe\x00garbage", "not"),
    validate("three megabytes", "title: x\n" + "#" * (3 * 1024 * 1024), "MB"),
    validate("misspelt key", BRIEF + "premis: x\n", "premis: unknown key; did you mean 'premise'"),
    validate("wrong type", BRIEF + "target_seconds: long\n", "target_seconds"),
    validate("unknown genre", BRIEF.replace("revenge", "horror"), "genre"),
    validate("unknown language", BRIEF + "language: fr\n", "language"),
    validate("empty title", BRIEF.replace("title: 测试", "title: ''"), "title"),
    validate("huge title", BRIEF.replace("测试", "长" * 500), "title"),
    validate("premise too short", BRIEF.replace("被赶出家门的千金归来", "x"), "premise"),
    validate("negative episode", BRIEF + "episode: -1\n", "episode"),
    validate("a role twice", BRIEF + "characters:\n  - {name: A, role: ally, gender: male}\n"
             "  - {name: B, role: ally, gender: female}\n", "role 'ally' is given 2 times"),
    validate("characters not a list", BRIEF + "characters: lots\n", "characters"),
    validate("deep nesting", BRIEF + "characters: " + "[" * 60 + "]" * 60 + "\n", "characters"),
    validate("control characters in a title", BRIEF.replace("测试", '"测\\u0000试"'), "control characters"),
    validate("markup in a key", BRIEF + "'[/x]weird': 1\n", "[/x]weird"),
    # -- screenplays ------------------------------------------------------------------------------------------
    validate("unknown speaker", sp("speaker: lin", "speaker: ghost"), "'ghost' is not a character"),
    validate("shot id twice", sp("        - {id: s01", "        - {id: s01, shot_size: wide, visual_prompt: x}\n"
                                                      "        - {id: s01"), "used twice"),
    validate("line too long", sp("我回来了。", "回" * 121), "text"),
    validate("line break in a line", sp("text: 我回来了。", 'text: "我回\\n来了"'), "control characters"),
    validate("shot id with a path", sp("{id: s01", '{id: "../s01"'), "id"),
    validate("zero duration", sp("characters: [lin],", "characters: [lin], min_duration_s: 0,"), "min_duration_s"),
    validate("reserved narrator id", sp("{id: lin, name", "{id: narrator, name").replace("[lin]", "[narrator]")
             .replace("speaker: lin", "speaker: narrator"), "reserved for narration"),
    validate("colour not #rrggbb", sp("look: 白衬衫,", "look: 白衬衫, color: red,"), "color"),
    validate("unknown shot size", sp("shot_size: close_up", "shot_size: huge"), "shot_size"),
    validate("no scenes", SCREENPLAY.split("  scenes:")[0] + "  scenes: []\n", "scenes"),
    validate("NUL in a name", sp("name: 林夏", 'name: "林\\0夏"'), "control characters"),
    # -- configs ----------------------------------------------------------------------------------------------
    validate("odd width", "render: {width: 1081}\n", "multiple of 2", kind="config"),
    validate("absurd width", "render: {width: 100000}\n", "render.width", kind="config"),
    validate("unknown x264 preset", "render: {preset: turbo}\n", "render.preset", kind="config"),
    validate("misspelt section", "subtitle: {font_size: 40}\n", "did you mean 'subtitles'", kind="config"),
    validate("key in the llm url", "llm: {base_url: 'http://u:sk-123@h.invalid/v1', model: m}\n",
             "must not carry a key", kind="config"),
    validate("mark too small", "mark: {height_fraction: 0.01}\n", "mark.height_fraction", kind="config"),
    validate("bad project code", "project_code: 'RD 2026/1'\n", "project_code", kind="config"),
    validate("unknown kind", BRIEF, "--kind must be one of", kind="poem"),
    # -- rendering: refused before anything starts ------------------------------------------------------------
    Case("run name ..", ["episode", "{tmp}/b.yaml", "--out", "{tmp}/out", "--name", ".."], "run name '..'",
         {"b.yaml": BRIEF}),
    Case("run name with a slash", ["episode", "{tmp}/b.yaml", "--out", "{tmp}/out", "--name", "a/b"], "run name",
         {"b.yaml": BRIEF}),
    Case("run name with a newline", ["episode", "{tmp}/b.yaml", "--out", "{tmp}/out", "--name", "a\nb"], "run name",
         {"b.yaml": BRIEF}),
    Case("out is a file", ["episode", "{tmp}/b.yaml", "--out", "{tmp}/afile"], "is a file",
         {"b.yaml": BRIEF, "afile": "x"}),
    Case("missing source", ["episode", "{tmp}/nope.yaml", "--out", "{tmp}/out"], "no such file"),
    Case("source is a folder", ["episode", "{tmp}", "--out", "{tmp}/out"], "no such file"),
    Case("unknown visual", ["demo", "--visual", "film", "--out", "{tmp}/out"], "--visual must be"),
    Case("unknown stage skill", ["episode", "{tmp}/b.yaml", "--config", "{tmp}/c.yaml", "--out", "{tmp}/out"],
         "Did you mean: animatic", {"b.yaml": BRIEF, "c.yaml": "stages: {visuals: animatik}\n"}),
    Case("skill of another stage", ["episode", "{tmp}/b.yaml", "--config", "{tmp}/c.yaml", "--out", "{tmp}/out"],
         "is a dubbing skill", {"b.yaml": BRIEF, "c.yaml": "stages: {visuals: dubbing-espeak}\n"}),
    Case("options of an unknown skill", ["episode", "{tmp}/b.yaml", "--config", "{tmp}/c.yaml", "--out", "{tmp}/out"],
         "Did you mean", {"b.yaml": BRIEF, "c.yaml": "options: {animatik: {}}\n"}),
    Case("misspelt option", ["episode", "{tmp}/b.yaml", "--config", "{tmp}/c.yaml", "--out", "{tmp}/out"],
         "stepz: unknown key", {"b.yaml": BRIEF, "c.yaml": "options: {video-diffusers: {stepz: 3}}\n"}),
    Case("missing music file", ["episode", "{tmp}/b.yaml", "--config", "{tmp}/c.yaml", "--out", "{tmp}/out"],
         "music[0].file", {"b.yaml": BRIEF, "c.yaml": "music: [{file: bed.mp3, licence: CC0}]\n"}),
    Case("music without a licence", ["validate", "{tmp}/c.yaml", "--kind", "config"], "music[0].licence",
         {"c.yaml": "music: [{file: bed.mp3}]\n"}),
    Case("broken series spec", ["series", "{tmp}/s.yaml", "--out", "{tmp}/out"], "episodes",
         {"s.yaml": "title: x\nepisodes: []\n"}),
    Case("unknown solution", ["solution", "run", "romance-park", "--out", "{tmp}/out"], "no solution named"),
    # -- one skill by hand ------------------------------------------------------------------------------------
    Case("unknown skill", ["skills", "run", "animatik", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "Did you mean: animatic", {"l.yaml": LINE}),
    Case("missing input file", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/nope.yaml", "--out", "{tmp}/out"],
         "no such file"),
    Case("input is a list", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "expected a mapping", {"l.yaml": "- a\n- b\n"}),
    Case("misspelt input key", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "did you mean 'emotion'", {"l.yaml": LINE + "emotoin: angry\n"}),
    Case("unknown option", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "options.dubbing-espeak", {"l.yaml": LINE + "options: {speed: 2}\n"}),
    Case("options not a mapping", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "options.dubbing-espeak", {"l.yaml": LINE + "options: 5\n"}),
    Case("wrong type of text", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "text", {"l.yaml": LINE.replace("text: 你好", "text: [1, 2]")}),
    Case("line id with a path", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "line_id", {"l.yaml": LINE.replace("s01-l1", "../../escape")}),
    Case("nothing to speak", ["skills", "run", "dubbing-espeak", "-i", "{tmp}/l.yaml", "--out", "{tmp}/out"],
         "nothing to speak", {"l.yaml": LINE.replace("text: 你好", "text: '！！'")}),
    # -- the ledger -------------------------------------------------------------------------------------------
    Case("amount not a number", [*ADD, "--amount", "abc", *LEDGER], "amount"),
    Case("impossible date", [*ADD, "--amount", "1", "--date", "2026-13-45", *LEDGER], "date"),
    Case("unknown currency", [*ADD, "--amount", "1", "--currency", "XYZ", "--fx-rate", "1", *LEDGER],
         "not an ISO 4217 currency"),
    Case("absurd amount", [*ADD, "--amount", "1e22", *LEDGER], "less than"),
    Case("too many decimals", [*ADD, "--amount", "1.1234567", *LEDGER], "decimal places"),
    Case("latin-1 csv", ["ledger", "import", "{tmp}/l.csv", *LEDGER], "is not UTF-8",
         {"l.csv": "category,date,project,amount,vendor\nequipment,2026-11-02,P1,1,Caf\xe9\n".encode("latin-1")}),
    Case("unknown csv column", ["ledger", "import", "{tmp}/l.csv", *LEDGER], "unknown column",
         {"l.csv": "category,date,project,amount,vendor,colour\nequipment,2026-11-02,P1,1,Shop,red\n"}),
    Case("claim period backwards", ["ledger", "claim", "--project", "P1", "--from", "2026-12-01", "--to", "2026-11-01",
                                    "--out", "{tmp}/out/claim", *LEDGER], "is after"),
    Case("not a database url", ["ledger", "verify", "--ledger", "notaurl"], "cannot open the ledger"),
    Case("database not running", ["ledger", "list", "--ledger", "postgresql+pg8000://u:pw@127.0.0.1:1/x"],
         "u:***@127.0.0.1"),
    Case("reverse a missing entry", ["ledger", "reverse", "99", "--reason", "typo", *LEDGER], "99"),
    Case("an unwritable place", ["ledger", "checkpoint", "--out", "/proc/microdrama-test", *LEDGER],
         "cannot read or write"),
    Case("not a checkpoint", ["ledger", "verify", "--checkpoint", "{tmp}/cp.json", *LEDGER],
         "is not a ledger checkpoint", {"cp.json": "{}"}),
    # -- labels and filing ------------------------------------------------------------------------------------
    Case("label check a missing file", ["label", "check", "{tmp}/nope.mp4"], "no such file"),
    Case("label a text file", ["label", "apply", "{tmp}/notes.txt", "--content-id", "x"], "notes.txt",
         {"notes.txt": "hello"}),
    Case("content id with a space", ["label", "apply", "{tmp}/a.png", "--content-id", "has space"], "--content-id may only",
         {"a.png": png()}),
    Case("a broken png", ["label", "apply", "{tmp}/a.png"], "is not a PNG file", {"a.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 64}),
    Case("filing plan without a manifest", ["filing", "plan", "{tmp}/run", "--out", "{tmp}/out"], "screenplay.json",
         {"run/notes.txt": "x"}),
    Case("filing online on a half run", ["filing", "online", "{tmp}/run", "--out", "{tmp}/out"], "no manifest.json",
         {"run/screenplay.json": "{}"}),
    Case("transcribe a missing file", ["transcribe", "{tmp}/nope.wav"], "does not exist"),
    Case("new project that exists", ["new", "proj", "--parent", "{tmp}"], "already exists", {"proj/x": "x"}),
]


def files_outside(root: Path, allowed: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and allowed not in p.parents}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_ends_in_a_short_named_error(case: Case, tmp_path, monkeypatch):
    for name, content in case.files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    before = files_outside(tmp_path, tmp_path / "out")
    result = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in case.argv])
    output = result.stdout + result.stderr
    assert result.exit_code not in (0, None), output
    assert isinstance(result.exception, SystemExit), f"{type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in output and "error:" in result.stderr, output
    assert len(result.stderr.splitlines()) <= 20, result.stderr
    assert case.expect in " ".join(result.stderr.split()), result.stderr
    assert files_outside(tmp_path, tmp_path / "out") == before, "wrote outside --out"
    assert not list((tmp_path / "out").rglob("manifest.json")), "a folder looks finished"


def test_the_suite_is_at_least_sixty_cases():
    assert len(CASES) >= 60
