"""The brief-following check, rendered: five briefs of different genres each become an episode whose cut
lands within ±15% of its target length (45-180 s), and a 3-episode series reads as one story."""

import json
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.domain import LENGTH_TOLERANCE, Brief, load_model, parse_model
from microdrama.media import probe

pytestmark = pytest.mark.slow

BRIEFS = sorted((Path(__file__).parents[1] / "skills" / "briefs").glob("*.yaml"))
# Small frames and a low frame rate: the check is about length and content, not pixels.
SMALL = {"project_code": "RD-BRIEFS", "render": {"width": 216, "height": 384, "fps": 5},
         "subtitles": {"font_size": 12}, "labels": {"enabled": False},
         "qa": {"dub_qa": "off"}}  # dub QA has its own tests; here it would only add Whisper time


@pytest.fixture(scope="module")
def flows(prefect_harness):
    from microdrama.pipelines.episode import episode_flow
    from microdrama.pipelines.series import series_flow

    return episode_flow, series_flow


@pytest.mark.parametrize("brief_path", BRIEFS, ids=lambda p: p.stem)
def test_each_brief_renders_within_15_percent_of_its_target(flows, tmp_path, brief_path):
    episode_flow, _ = flows
    brief = load_model(Brief, brief_path)
    summary = episode_flow(source=brief_path, config=parse_model(ProjectConfig, SMALL), out_dir=tmp_path,
                           run_name=brief_path.stem)
    length = probe(summary.video).duration_s
    assert abs(length - brief.target_seconds) <= LENGTH_TOLERANCE * brief.target_seconds, \
        f"{brief_path.stem}: {length:.1f} s for a target of {brief.target_seconds} s"
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    writing = manifest["writing"]
    assert "espeak-ng" in manifest["voices"]  # the CPU default says its voices are the formant fallback
    assert {e["name"] for e in manifest["cast"]} == {c.name for c in brief.characters} | {"narrator"}
    online = json.loads((Path(summary.run_dir) / "filing" / "online.json").read_text(encoding="utf-8"))
    assert brief.characters[0].name in online["fields"]["配音 voices and consent"]
    assert writing["writer"] == "screenplay-rules" and writing["target_s"] == brief.target_seconds
    assert writing["measured_s"] == pytest.approx(length, abs=0.2)
    screenplay = yaml.safe_load((Path(summary.run_dir) / "screenplay.yaml").read_text(encoding="utf-8"))
    assert {c["name"] for c in screenplay["series"]["characters"]} == {c.name for c in brief.characters}


def test_a_series_of_three_from_one_brief_chains_and_is_checked(flows, tmp_path):
    _, series_flow = flows
    brief = yaml.safe_load(BRIEFS[0].read_text(encoding="utf-8"))
    (tmp_path / "brief.yaml").write_text(yaml.safe_dump({**brief, "target_seconds": 45}, allow_unicode=True),
                                         encoding="utf-8")
    (tmp_path / "series.yaml").write_text("title: Chain\nbrief: brief.yaml\ncount: 3\n", encoding="utf-8")
    summary = series_flow(spec_path=tmp_path / "series.yaml", config=parse_model(ProjectConfig, SMALL),
                          out_dir=tmp_path / "out", parallel=3)
    assert not summary.failed
    plays = [yaml.safe_load((tmp_path / "out" / f"chain-ep0{n}" / "screenplay.yaml").read_text(encoding="utf-8"))
             for n in (1, 2, 3)]
    assert len({json.dumps(p["episode"]["scenes"], ensure_ascii=False) for p in plays}) == 3
    for before, after in zip(plays, plays[1:]):
        assert after["episode"]["scenes"][0]["location"] == before["episode"]["scenes"][-1]["location"]
        first_line = after["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"]
        assert before["episode"]["cliffhanger"] in first_line
    record = json.loads((tmp_path / "out" / "chain" / "series.json").read_text(encoding="utf-8"))
    assert record["continuity"]["episodes"] == [1, 2, 3] and record["continuity"]["issues"] == []
    assert (tmp_path / "out" / "chain" / "continuity.json").is_file()


def test_chinese_dub_qa_reports_a_cer_per_line_with_the_bundled_multilingual_model(flows, tmp_path,
                                                                                   screenplay_data):
    """Opt-in for zh (espeak-ng Mandarin is hard to hear); the multilingual Whisper base ships as pip parts."""
    episode_flow, _ = flows
    source = tmp_path / "ep1.yaml"  # four Chinese lines: Whisper base hears each (and once more if re-dubbed)
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    config = parse_model(ProjectConfig, {**SMALL, "qa": {"dub_qa": "on", "align_subtitles": False}})
    summary = episode_flow(source=source, config=config, out_dir=tmp_path, run_name="qa")
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    qa = manifest["dub_qa"]
    assert qa["skipped"] is None and len(qa["lines"]) == summary.lines
    assert all(line["metric"] == "cer" and line["score"] >= 0 and line["heard"] for line in qa["lines"])
