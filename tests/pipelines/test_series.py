"""The series flow: bounded parallelism, and one failed episode does not stop the others."""

import json

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.domain import parse_model

pytestmark = pytest.mark.slow

SMALL = {"project_code": "RD-SERIES", "render": {"width": 270, "height": 480, "fps": 15},
         "subtitles": {"font_size": 16}}


def test_one_failed_episode_leaves_the_others_finished(tmp_path, screenplay_data, prefect_harness):
    good = tmp_path / "ep1.yaml"
    good.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    second = dict(screenplay_data, episode=dict(screenplay_data["episode"], number=2, title="第二集"))
    second["series"] = dict(screenplay_data["series"], characters=[  # episode 2's writer recast lin's voice
        dict(c, voice={"gender": "female", "variant": 4, "pitch": 20}) if c["id"] == "lin" else c
        for c in screenplay_data["series"]["characters"]])
    (tmp_path / "ep2.yaml").write_text(yaml.safe_dump(second, allow_unicode=True), encoding="utf-8")
    broken = dict(screenplay_data, episode=dict(screenplay_data["episode"], number=3))
    broken["episode"]["scenes"] = [dict(broken["episode"]["scenes"][0], shots=[
        dict(broken["episode"]["scenes"][0]["shots"][0], lines=[{"speaker": "ghost", "text": "谁？"}])])]
    (tmp_path / "ep3.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    spec = tmp_path / "series.yaml"
    spec.write_text("title: Test Series\nepisodes: [ep1.yaml, ep3.yaml, ep2.yaml]\n", encoding="utf-8")

    config = parse_model(ProjectConfig, SMALL)

    from prefect import get_client

    from microdrama.pipelines.series import SeriesFailed, series_flow

    with pytest.raises(SeriesFailed, match=r"(?s)1 of 3 episodes failed \(test_series-ep02: .*'ghost'") as failed_run:
        series_flow(spec_path=spec, config=config, out_dir=tmp_path / "out", parallel=2)
    summary = failed_run.value.summary
    runs = _flow_runs(get_client(sync_client=True))
    # Resumed: the two finished episodes are not rendered again, the failed one is tried again.
    with pytest.raises(SeriesFailed, match="1 of 3"):
        series_flow(spec_path=spec, config=config, out_dir=tmp_path / "out", parallel=2)
    again = _flow_runs(get_client(sync_client=True))
    series_run = runs["series"][0]
    children = {r.name: r for r in runs["episode"]}
    assert set(children) == {"test_series-ep01", "test_series-ep02", "test_series-ep03"}
    assert all(r.parent_task_run_id is not None for r in children.values())  # child runs of the series run
    assert series_run.state.is_failed() and "test_series-ep02" in series_run.state.message
    assert set(children["test_series-ep03"].tags) == {"RD-SERIES", "series:test_series", "episode:03"}
    assert sorted(r.name for r in again["episode"]) == sorted([*children, "test_series-ep02"])
    resumed = {e.name: e.resumed for e in failed_run.value.summary.episodes}
    assert not any(resumed.values())
    outcomes = {e.name: e for e in summary.episodes}
    assert [e.name for e in summary.episodes] == ["test_series-ep01", "test_series-ep02", "test_series-ep03"]
    assert outcomes["test_series-ep01"].ok and outcomes["test_series-ep03"].ok
    failed = outcomes["test_series-ep02"]
    assert not failed.ok and "'ghost' is not a character" in failed.error
    assert (tmp_path / "out" / "test_series-ep03" / "episode.mp4").exists()
    assert (tmp_path / "out" / "test_series" / "series.json").exists()
    voices = [{c["id"]: c["voice"] for c in json.loads((tmp_path / "out" / f"test_series-ep0{n}" / "screenplay.json")
                                                      .read_text(encoding="utf-8"))["series"]["characters"]}
              for n in (1, 3)]
    assert voices[0] == voices[1]  # the voice bank keeps lin's voice from episode 1
    assert (tmp_path / "out" / "test_series" / "voices.json").exists()


def _flow_runs(client, tag: str = "series:test_series") -> dict[str, list]:
    """This series' episode runs (by their tag; the test server is shared) and the series runs above them."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    episodes = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
    parents = {client.read_task_run(r.parent_task_run_id).flow_run_id for r in episodes if r.parent_task_run_id}
    return {"episode": episodes, "series": [client.read_flow_run(run_id) for run_id in parents]}


def test_a_spec_needs_exactly_one_source(tmp_path):
    from microdrama.errors import InputError
    from microdrama.pipelines.series import SeriesSpec

    with pytest.raises(InputError, match="either `episodes:`"):
        parse_model(SeriesSpec, {"title": "x"})
    with pytest.raises(InputError, match="needs `count:`"):
        parse_model(SeriesSpec, {"title": "x", "brief": "b.yaml"})


def test_brief_and_count_expand_into_numbered_briefs(tmp_path):
    from microdrama.assets import ASSETS_DIR
    from microdrama.domain import Brief, load_model
    from microdrama.pipelines.series import SeriesSpec, episode_sources

    spec_path = ASSETS_DIR / "demo" / "series.yaml"
    spec = load_model(SeriesSpec, spec_path)
    sources = episode_sources(spec_path, spec, tmp_path)
    assert [load_model(Brief, p).episode for p in sources] == [1, 2, 3]


def test_series_titles_in_any_script_get_their_own_folders(tmp_path):
    from microdrama.domain import folder_name
    from microdrama.errors import InputError
    from microdrama.pipelines.series import claim_series_folder

    assert folder_name("寻味上海") == "寻味上海" and folder_name("暖手杯") == "暖手杯"
    assert folder_name("My Drama!") == "my_drama"
    assert folder_name("！！！") != folder_name("？？？")  # no letters at all: a hash, not a shared fallback
    assert claim_series_folder(tmp_path, "My Drama!") == "my_drama"
    assert claim_series_folder(tmp_path, "My Drama!") == "my_drama"  # the same series again is fine
    with pytest.raises(InputError, match="belongs to the series 'My Drama!'"):
        claim_series_folder(tmp_path, "my drama")


def test_a_writer_that_cannot_see_ahead_is_handed_the_last_cliffhanger(tmp_path, screenplay_data):
    """An LLM writer does not know episode N's cliffhanger until N is written: the series writes it into
    episode N+1's brief (`previously`), and the writer opens on it."""
    import json as _json

    from microdrama.domain import Brief, Screenplay, dump_yaml, load_model
    from microdrama.pipelines.series import _hand_on_cliffhanger

    before = Screenplay.model_validate(screenplay_data)
    (tmp_path / "ep01").mkdir()
    (tmp_path / "ep01" / "screenplay.json").write_text(before.model_dump_json(), encoding="utf-8")
    brief_path = tmp_path / "ep02.yaml"
    brief_path.write_text(dump_yaml(Brief(title="T", premise="a hero returns", genre="revenge", episode=2)),
                          encoding="utf-8")
    _hand_on_cliffhanger(brief_path, tmp_path / "ep01" / "screenplay.json")
    handed = load_model(Brief, brief_path).previously
    assert handed.episode == before.episode.number and handed.cliffhanger == before.episode.cliffhanger
    assert handed.last_scene == before.episode.scenes[-1].location
    assert _json.loads(Brief.model_validate(load_model(Brief, brief_path).model_dump()).model_dump_json())["previously"]
