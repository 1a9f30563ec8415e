"""End to end: the Prefect flow renders a real 1080x1920 episode from a 3-shot screenplay."""

import json
from pathlib import Path

import pysubs2
import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.errors import InputError, RenderError
from microdrama.files import sha256_file
from microdrama.media import probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect(prefect_harness):
    from microdrama.pipelines.episode import episode_flow

    return episode_flow


@pytest.fixture(scope="module")
def rendered(prefect, tmp_path_factory):
    from tests.conftest import TINY_SCREENPLAY

    root = tmp_path_factory.mktemp("episode")
    source = root / "screenplay.yaml"
    source.write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    summary = prefect(source=source, config=ProjectConfig(project_code="RD-TEST"), out_dir=root / "out",
                      run_name="ep1")
    return root, source, summary


def test_episode_is_a_vertical_30fps_cut_with_one_audio_stream(rendered):
    _, _, summary = rendered
    board = json.loads(open(f"{summary.run_dir}/storyboard.json", encoding="utf-8").read())
    expected = sum(s["frames"] for s in board["shots"]) / 30
    info = probe(summary.video)
    assert (info.width, info.height) == (1080, 1920)
    assert info.fps == pytest.approx(30)
    assert info.audio_streams == 1 and info.video_codec == "h264"
    assert info.duration_s == pytest.approx(expected, abs=0.1)


def test_subtitles_match_spoken_lines_and_sit_inside_their_audio(rendered):
    _, _, summary = rendered
    board = json.loads(open(f"{summary.run_dir}/storyboard.json", encoding="utf-8").read())
    cues = [c for s in board["shots"] for c in s["cues"]]
    subs = pysubs2.load(f"{summary.run_dir}/episode.srt")
    assert len(subs) == len(cues) == summary.lines == 4
    for event, cue in zip(subs, cues):
        assert cue["start_s"] * 1000 <= event.start < event.end <= cue["end_s"] * 1000
        assert event.plaintext.replace("\n", "") == cue["text"]


def test_run_folder_holds_every_artifact_and_a_manifest(rendered):
    _, source, summary = rendered
    run_dir = summary.run_dir
    manifest = json.loads(open(f"{run_dir}/manifest.json", encoding="utf-8").read())
    assert manifest["status"] == "complete"
    assert manifest["source"]["sha256"] == sha256_file(source)
    for name in ("episode.mp4", "episode.srt", "episode.ass", "screenplay.yaml", "screenplay.json",
                 "storyboard.png", "storyboard.html", "audio/s01-l1.wav"):
        assert manifest["artifacts"][name]["sha256"] == sha256_file(f"{run_dir}/{name}")
    assert {s: v["skill"] for s, v in manifest["skills"].items()}["visuals"] == "animatic"
    tasks = [u["task"] for u in manifest["usage"]]
    assert tasks.count("dub-line") == 4 and tasks.count("render-shot") == 3
    assert all(u["project_code"] == "RD-TEST" and u["usage"]["cpu_seconds"] >= 0 for u in manifest["usage"])


def test_second_run_reuses_every_step(rendered, prefect):
    root, source, _ = rendered
    again = prefect(source=source, config=ProjectConfig(project_code="RD-TEST"), out_dir=root / "out", run_name="ep1")
    # dub, board (timed, then its contact sheet), shots, subs, finish, mix, assemble
    assert again.steps_run == 0 and again.steps_cached == 4 + 2 + 3 + 1 + 3 + 1 + 1


def test_editing_one_line_redoes_only_what_it_touches(rendered, prefect):
    import copy

    from tests.conftest import TINY_SCREENPLAY

    root, _, _ = rendered
    edited = copy.deepcopy(TINY_SCREENPLAY)
    edited["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = "保安！立刻把这个女人给我赶出去，马上！"
    source = root / "edited.yaml"
    source.write_text(yaml.safe_dump(edited, allow_unicode=True), encoding="utf-8")
    summary = prefect(source=source, config=ProjectConfig(project_code="RD-TEST"), out_dir=root / "out", run_name="ep1")
    redone = sorted((u.task, u.shot_id or "") for u in summary.usage if not u.cached)
    assert redone == [("assemble", ""), ("dub-line", "s01"), ("finish-shot", "s01"), ("mix", ""),
                      ("render-shot", "s01"), ("storyboard", ""), ("storyboard sheet", ""), ("subtitles", "")]


def test_a_line_edit_that_keeps_its_shot_within_the_take_keeps_the_take_and_its_verdict(rendered, prefect):
    """A take is a picture of the shot, not of its exact length: after a line edit that moves the shot's length
    within what the take covers (cut, or its last frame held up to a second), the take is reused — no new
    generation, no new cost — and the person's approval of it still stands."""
    import copy

    from microdrama.media import clip_facts
    from microdrama.review import ReviewLog
    from microdrama.stages import take_lengths
    from tests.conftest import TINY_SCREENPLAY

    root, source, _ = rendered
    config = ProjectConfig(project_code="RD-TEST")
    prefect(source=source, config=config, out_dir=root / "out", run_name="ep1")  # back to the original lines
    run_dir = root / "out" / "ep1"
    before = {t["shot_id"]: t for t in json.loads((run_dir / "manifest.json").read_text())["takes"]["takes"]}
    ReviewLog.record(run_dir, shot_id="s02", take=1, key=before["s02"]["key"], verdict="approved", by="editor")
    edited = copy.deepcopy(TINY_SCREENPLAY)
    edited["episode"]["scenes"][0]["shots"][1]["lines"][0]["text"] = "我又回来了。"
    (root / "kept.yaml").write_text(yaml.safe_dump(edited, allow_unicode=True), encoding="utf-8")
    summary = prefect(source=root / "kept.yaml", config=config, out_dir=root / "out", run_name="ep1")

    board = json.loads((run_dir / "storyboard.json").read_text())
    s02 = next(s for s in board["shots"] if s["shot"]["id"] == "s02")
    take_frames = clip_facts(before["s02"]["video"])[1]
    assert s02["frames"] != take_frames and take_frames in take_lengths(s02["frames"], board["fps"])  # the premise
    redone = sorted((u.task, u.shot_id or "") for u in summary.usage if not u.cached)
    assert ("render-shot", "s02") not in redone and ("finish-shot", "s02") in redone
    after = {t["shot_id"]: t for t in json.loads((run_dir / "manifest.json").read_text())["takes"]["takes"]}
    assert after["s02"]["key"] == before["s02"]["key"] and after["s02"]["status"] == "approved"
    assert after["s02"]["fit"].startswith("last frame held" if s02["frames"] > take_frames else "last ")
    assert probe(summary.video).video_duration_s == pytest.approx(summary.duration_s, abs=0.05)
    (run_dir / "review.json").unlink()  # the module's later tests see no verdicts


def test_a_failed_re_render_of_the_published_screenplay_keeps_the_edit(prefect, tmp_path, screenplay_data):
    """The README's edit loop: edit out/<run>/screenplay.yaml and render it again. A line too long for the
    subtitles fails the run late (after dubbing); the edited file, and the earlier cut, must survive."""
    source = tmp_path / "sp.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    first = prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    run_dir = Path(first.run_dir)
    edited = yaml.safe_load((run_dir / "screenplay.yaml").read_text(encoding="utf-8"))
    edited["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = "把她赶出去" * 21  # 105 characters
    edited["episode"]["scenes"][0]["shots"][1]["lines"].pop()  # and one line removed
    text = yaml.safe_dump(edited, allow_unicode=True)
    (run_dir / "screenplay.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="subtitle rows"):
        prefect(source=run_dir / "screenplay.yaml", config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    assert (run_dir / "screenplay.yaml").read_text(encoding="utf-8") == text
    assert (run_dir / "episode.mp4").exists() and not (run_dir / "manifest.json").exists()
    assert "failed" in (run_dir / "RUN-FAILED.txt").read_text(encoding="utf-8")

    edited["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = "把她赶出去！"
    text = yaml.safe_dump(edited, allow_unicode=True)
    (run_dir / "screenplay.yaml").write_text(text, encoding="utf-8")
    prefect(source=run_dir / "screenplay.yaml", config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    assert (run_dir / "screenplay.yaml").read_text(encoding="utf-8") == text  # the source is never rewritten
    assert not (run_dir / "RUN-FAILED.txt").exists()
    assert sorted(p.name for p in (run_dir / "audio").iterdir()) == ["s01-l1.wav", "s02-l1.wav", "s03-l1.wav"]
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert "audio/s02-l2.wav" not in manifest["artifacts"] and not any(
        Path(name).name.startswith(".") for name in manifest["artifacts"])
    assert {"filing/plan.json", "filing/online.json"} <= set(manifest["artifacts"])  # written before the manifest


def test_covers_and_stems_made_beside_the_cut_replace_the_old_ones_only_when_the_run_succeeds(
        prefect, tmp_path, screenplay_data, monkeypatch):
    """They are written while the last shots finish, in hidden folders: a run that fails after that leaves the
    published covers and stems as they were, and the next good run swaps in whole folders."""
    from microdrama.run import Run

    source = tmp_path / "sp.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    run_dir = Path(prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep").run_dir)
    published = {p: p.read_bytes() for folder in ("covers", "stems") for p in (run_dir / folder).iterdir()}
    (run_dir / "stems" / "left-by-hand.txt").write_text("an earlier file", encoding="utf-8")
    screenplay_data["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = "把她赶出去！"  # new dialogue
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")

    def refused(self, files, title):
        raise RenderError("label check refused (test)")
    monkeypatch.setattr(Run, "label_outputs", refused)  # fails after the covers and stems were made
    with pytest.raises(RenderError, match="refused"):
        prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    assert all(p.read_bytes() == data for p, data in published.items())
    assert not [p for p in run_dir.iterdir() if p.name.startswith((".covers.", ".stems."))]

    monkeypatch.undo()
    prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    assert (run_dir / "stems" / "dialogue.wav").read_bytes() != published[run_dir / "stems" / "dialogue.wav"]
    assert not (run_dir / "stems" / "left-by-hand.txt").exists()  # the folder is replaced whole
    assert not [p for p in run_dir.iterdir() if p.name.startswith((".covers.", ".stems."))]
    artifacts = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["artifacts"]
    assert {"stems/dialogue.wav", "covers/cover-9x16.jpg"} <= set(artifacts)


def test_a_damaged_cut_in_the_store_is_rendered_again_not_published(prefect, tmp_path, screenplay_data):
    """Half a cached final cut (a crash, a full disk) must not come back as a finished episode."""
    source = tmp_path / "sp.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    first = prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    cut = next(u for u in first.usage if u.task == "assemble")
    stored = tmp_path / "out" / ".store" / cut.cache_key[:2] / cut.cache_key / "episode.mp4"
    with open(stored, "r+b") as f:
        f.truncate(stored.stat().st_size // 2)
    again = prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="ep")
    assert [u.task for u in again.usage if not u.cached] == ["assemble"]
    assert probe(again.video).duration_s == pytest.approx(first.duration_s, abs=0.1)


def test_a_run_name_can_not_leave_the_output_folder(prefect, tmp_path, screenplay_data):
    source = tmp_path / "sp.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    for name in ("..", "../escape", "a/b", ""):
        with pytest.raises(InputError, match="run name"):
            prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name=name)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out").exists()


def test_invalid_screenplay_fails_before_writing_anything(prefect, tmp_path, screenplay_data):
    screenplay_data["episode"]["scenes"][0]["shots"][0]["lines"][0]["speaker"] = "ghost"
    source = tmp_path / "bad.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match="'ghost' is not a character"):
        prefect(source=source, config=ProjectConfig(), out_dir=tmp_path / "out", run_name="bad")
    assert not (tmp_path / "out" / "bad").exists()


def test_run_costs_are_metered_into_the_ledger_once(rendered, prefect):
    from microdrama.ledger import Ledger

    root, source, summary = rendered
    manifest = json.loads(open(f"{summary.run_dir}/manifest.json", encoding="utf-8").read())
    cost = manifest["cost"]
    assert cost["currency"] == "RMB" and cost["rate_refs"] and float(cost["episode_total"]) >= 0
    ledger = Ledger(f"sqlite:///{root / 'out' / 'ledger.sqlite'}")
    first_run = ledger.entries(run_id=summary.run_id)
    assert first_run and all(e.project_code == "RD-TEST" and e.kind == "usage" for e in first_run)
    assert {e.task for e in first_run} >= {"dub-line", "render-shot", "finish-shot", "assemble"}
    before = len(ledger.entries())
    again = prefect(source=source, config=ProjectConfig(project_code="RD-TEST"), out_dir=root / "out", run_name="ep1")
    assert len(ledger.entries()) == before, "a fully cached run consumes nothing"
    assert again.cost.this_run == "0.0000" and again.cost.episode_total == summary.cost.episode_total
    assert ledger.verify().ok


def test_every_published_file_passes_the_label_check_and_a_stripped_copy_fails(rendered, tmp_path):
    from microdrama.labels.check import check_file
    from microdrama.media import run_ffmpeg

    _, _, summary = rendered
    manifest = json.loads(open(f"{summary.run_dir}/manifest.json", encoding="utf-8").read())
    names = sorted(r["path"].rsplit("/", 1)[-1] for r in manifest["labels"])
    assert names[0] == "episode.mp4" and "storyboard.png" in names and sum(n.endswith(".wav") for n in names) == 4
    assert all(r["ok"] for r in manifest["labels"])
    visible = check_file(summary.video).clauses[0]
    assert visible.ok, visible.detail
    stripped = tmp_path / "stripped.mp4"
    run_ffmpeg(["-i", summary.video, "-map", "0", "-c", "copy", "-map_metadata", "-1", str(stripped)])
    assert not check_file(stripped).ok


def test_filing_packs_are_written_for_the_episode(rendered):
    _, _, summary = rendered
    for name in ("plan.xlsx", "plan.html", "online.xlsx", "online.html"):
        assert (Path(summary.run_dir) / "filing" / name).exists()
    online = json.loads((Path(summary.run_dir) / "filing" / "online.json").read_text(encoding="utf-8"))
    assert online["episodes"][0]["label_check"] == "pass"


@pytest.fixture
def llm_server():
    """The loopback OpenAI-compatible server from tests/llm, answering as the agents expect: the flow's
    skills are made by the registry, so they reach it over real HTTP."""
    import tests.llm.conftest as llm

    gen = llm.loopback_model.__wrapped__()
    model = next(gen)
    from tests.llm.fake_agents import respond

    model.responder = respond
    yield model
    next(gen, None)


def test_llm_writer_meters_tokens_and_never_writes_the_key(prefect, tmp_path, monkeypatch, llm_server):
    from microdrama.domain import Brief, dump_yaml
    from microdrama.ledger import Ledger

    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("MICRODRAMA_LLM_API_KEY", secret)
    brief = tmp_path / "brief.yaml"
    brief.write_text(dump_yaml(Brief(title="测试", premise="被赶出家门的千金归来", genre="revenge",
                                     target_seconds=30)), encoding="utf-8")
    config = ProjectConfig.model_validate({
        "project_code": "RD-LLM", "render": {"width": 270, "height": 480, "fps": 15}, "subtitles": {"font_size": 16},
        "stages": {"screenplay": "screenplay-llm"},
        "llm": {"base_url": llm_server.url, "model": "deepseek-chat", "backoff_s": 0.01}})
    summary = prefect(source=brief, config=config, out_dir=tmp_path / "out", run_name="llm")
    assert Path(summary.video).exists()
    run_dir = Path(summary.run_dir)
    assert len(list((run_dir / "llm" / "screenplay").glob("*-*.json"))) == 3  # draft, critique, director
    llm = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["writing"]["llm"]["screenplay"]
    assert llm["tier"] == "json_schema" and llm["length"]["target_s"] == 30  # the fake takes json_schema
    api = [e for e in Ledger(f"sqlite:///{tmp_path / 'out' / 'ledger.sqlite'}").entries() if e.category == "model_api"]
    assert {e.rate_ref.rsplit("#", 1)[1] for e in api} == {"llm-deepseek-in", "llm-deepseek-out"}
    assert sum(e.quantity for e in api if e.unit == "tokens_in") == 3 * 120
    assert all(e.project_code == "RD-LLM" and e.backend.startswith("openai-compatible deepseek-chat@") for e in api)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"API key leaked into {path}"
    assert llm_server.requests[0]["headers"]["Authorization"] == f"Bearer {secret}"


def test_a_model_that_never_answers_validly_fails_the_run_but_its_tokens_are_billed(prefect, tmp_path, llm_server):
    from microdrama.domain import Brief, dump_yaml
    from microdrama.ledger import Ledger

    llm_server.responder = lambda body: "我不能用 JSON 回答。"
    brief = tmp_path / "brief.yaml"
    brief.write_text(dump_yaml(Brief(title="测试", premise="一个故事的前提", genre="romance")), encoding="utf-8")
    config = ProjectConfig.model_validate({"stages": {"screenplay": "screenplay-llm"},
                                           "llm": {"base_url": llm_server.url, "model": "qwen-plus", "backoff_s": 0}})
    with pytest.raises(Exception, match="gave no valid Screenplay"):
        prefect(source=brief, config=config, out_dir=tmp_path / "out", run_name="bad")
    billed = Ledger(f"sqlite:///{tmp_path / 'out' / 'ledger.sqlite'}").entries()
    assert billed and all("failed call, billed" in e.description for e in billed)
    assert not (tmp_path / "out" / "bad" / "episode.mp4").exists()
    kept = list((tmp_path / "out" / "bad" / "llm" / "screenplay" / "failed").glob("*.json"))
    assert kept and "我不能用 JSON 回答" in kept[0].read_text(encoding="utf-8")  # what was paid for is kept
    assert "failed" in (tmp_path / "out" / "bad" / "RUN-FAILED.txt").read_text(encoding="utf-8")


def test_english_episode_gets_whisper_dub_qa_aligned_and_bilingual_subtitles(prefect, tmp_path, screenplay_data):
    import copy

    import av
    import numpy as np

    pytest.importorskip("faster_whisper")
    english = copy.deepcopy(screenplay_data)
    english["series"]["language"] = "en"
    texts = {"s01-l1": "Throw her out of my house!", "s02-l1": "I am back.", "s02-l2": "Impossible!",
             "s03-l1": "Her phone lit up in the dark."}
    chinese = {}
    for shot in english["episode"]["scenes"][0]["shots"]:
        for i, line in enumerate(shot["lines"]):
            chinese[f"{shot['id']}-l{i + 1}"] = line["text"]
            line["text"] = texts[f"{shot['id']}-l{i + 1}"]
    source = tmp_path / "en.yaml"
    source.write_text(yaml.safe_dump(english, allow_unicode=True), encoding="utf-8")
    zh = tmp_path / "zh.yaml"
    zh.write_text(yaml.safe_dump(chinese, allow_unicode=True), encoding="utf-8")
    config = ProjectConfig.model_validate({"render": {"width": 540, "height": 960, "fps": 15},
                                           "subtitles": {"font_size": 30, "secondary_font_size": 24,
                                                         "translation": str(zh)}})
    summary = prefect(source=source, config=config, out_dir=tmp_path / "out", run_name="en")
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    qa = manifest["dub_qa"]
    assert qa["skipped"] is None and [q["line_id"] for q in qa["lines"]] == list(texts)
    assert all(q["metric"] == "wer" and 0 <= q["score"] for q in qa["lines"])
    assert any(q["heard"] for q in qa["lines"])
    srt = pysubs2.load(str(Path(summary.run_dir) / "episode.srt"))
    assert srt[0].plaintext.splitlines()[-1] == chinese["s01-l1"]  # the translation stacked under the line

    board = json.loads((Path(summary.run_dir) / "storyboard.json").read_text(encoding="utf-8"))
    first_cue = board["shots"][0]["cues"][0]
    t_mid = (first_cue["start_s"] + first_cue["end_s"]) / 2
    with av.open(summary.video) as c:
        for frame in c.decode(video=0):
            if frame.time >= t_mid:
                gray = frame.to_ndarray(format="gray")
                break
    band = gray[int(960 * 0.55): int(960 * 0.85)]
    ink_rows = np.flatnonzero((band >= 235).sum(axis=1) >= 2)
    groups = np.split(ink_rows, np.flatnonzero(np.diff(ink_rows) > 3) + 1)
    assert len([g for g in groups if len(g) >= 8]) >= 2, "two text rows (English and Chinese) burned in"


def test_chinese_episode_skips_dub_qa_with_the_reason(rendered):
    _, _, summary = rendered
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    skipped = manifest["dub_qa"]["skipped"]
    assert "too small to judge synthetic 'zh'" in skipped and "qa.dub_qa: on" in skipped or "no Whisper" in skipped
