"""Platform delivery: presets parse with their sources; a tiny labelled run delivered and checked."""

import json
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.domain import parse_model
from microdrama.errors import InputError
from microdrama.platforms import Platform, load_platform, platform_names


def test_every_bundled_preset_parses_and_cites_each_number():
    names = platform_names()
    assert {"douyin", "kuaishou", "wechat-channels", "hongguo", "youtube-shorts", "tiktok"} <= set(names)
    for name in names:
        p = load_platform(name)
        assert p.name == name and p.height > p.width  # vertical platforms
        assert all(p.sources[k] for k in ("size", "max_video_kbps", "loudness", "safe_zone", "covers"))


def test_a_platform_master_is_never_encoded_faster_than_veryfast():
    from microdrama.platforms import delivery_preset

    assert [delivery_preset(p) for p in ("ultrafast", "superfast", "veryfast", "medium")] == [
        "veryfast", "veryfast", "veryfast", "medium"]


def test_a_preset_without_a_source_or_an_unknown_name_is_refused(tmp_path):
    data = yaml.safe_load(load_platform("douyin").model_dump_json())
    del data["sources"]["loudness"]
    with pytest.raises(ValueError, match="sources: say where loudness"):
        Platform.model_validate(data)
    with pytest.raises(InputError, match="choose one of .*douyin"):
        load_platform("myspace")
    with pytest.raises(InputError, match="no such preset"):  # only a .yaml path is read as a file
        load_platform(tmp_path / "douyin.json")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prefect_harness) -> Path:
    from tests.conftest import TINY_SCREENPLAY

    root = tmp_path_factory.mktemp("deliver")
    (root / "screenplay.yaml").write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    config = parse_model(ProjectConfig, {  # labels on: at 270 px the mark passes the 5% check
        "project_code": "RD-DELIVER", "render": {"width": 270, "height": 480, "fps": 5, "stems": False},
        "subtitles": {"font_size": 16, "bottom_margin": 0.22}, "qa": {"dub_qa": "off"}})
    from microdrama.pipelines.episode import episode_flow

    summary = episode_flow(source=root / "screenplay.yaml", config=config, out_dir=root / "out", run_name="ep1")
    return Path(summary.run_dir)


@pytest.mark.slow
def test_douyin_delivery_fits_the_cut_and_every_requirement_passes(run_dir, tmp_path):
    from microdrama.labels.check import check_file
    from microdrama.media import probe
    from microdrama.platforms import deliver

    folder, reqs = deliver(run_dir, "douyin", tmp_path / "douyin")
    assert all(r.ok for r in reqs), [r for r in reqs if not r.ok]
    info = probe(folder / "episode.mp4")
    assert (info.width, info.height, info.audio_streams) == (1080, 1920, 1)
    assert check_file(folder / "episode.mp4").ok  # re-encoded, so labelled again and read back
    for name in ("9x16", "3x4"):
        assert (folder / "covers" / f"cover-{name}.jpg").is_file()
    assert (folder / "episode.srt").read_bytes() == (run_dir / "episode.srt").read_bytes()
    checklist = json.loads((folder / "checklist.json").read_text(encoding="utf-8"))
    assert checklist["ok"] and checklist["video"].startswith("picture re-encoded to 1080x1920")
    by_name = {r["requirement"]: r for r in checklist["requirements"]}
    assert by_name["subtitles above the bottom UI band"]["measured"] == "22.0% (subtitles.bottom_margin)"
    assert "**READY**" in (folder / "checklist.md").read_text(encoding="utf-8")

@pytest.mark.slow
def test_a_cut_that_meets_the_preset_is_copied_and_a_tight_safe_zone_fails(run_dir, tmp_path):
    from microdrama.platforms import deliver

    data = yaml.safe_load(load_platform("douyin").model_dump_json())
    data.update(name="small", width=270, height=480, covers={"9x16": [270, 480]},
                safe_zone={"top": 0.1, "bottom": 0.3})
    preset = tmp_path / "small.yaml"
    preset.write_text(yaml.safe_dump(data), encoding="utf-8")
    folder, reqs = deliver(run_dir, preset, tmp_path / "small")
    assert (folder / "episode.mp4").read_bytes() == (run_dir / "episode.mp4").read_bytes()
    failed = {r.requirement: r.measured for r in reqs if not r.ok}
    assert failed == {"subtitles above the bottom UI band": "22.0% (subtitles.bottom_margin)"}
    assert "NOT READY" in (folder / "checklist.md").read_text(encoding="utf-8")



@pytest.mark.slow
def test_the_deliver_command_prints_the_checklist_and_exits_1_on_a_failed_requirement(run_dir, tmp_path):
    from typer.testing import CliRunner

    from microdrama.cli import app

    data = yaml.safe_load(load_platform("douyin").model_dump_json())
    data.update(name="small", width=270, height=480, covers={"9x16": [270, 480]}, max_seconds=3)
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["deliver", str(run_dir), "--platform", str(tmp_path / "small.yaml"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "✗ duration: 6.4 s (required ≤ 3 s)" in result.output
    assert (tmp_path / "out" / "checklist.json").is_file()


@pytest.mark.slow
def test_a_cut_off_the_loudness_target_gets_only_its_sound_normalised(run_dir, tmp_path):
    from microdrama.media import clip_facts
    from microdrama.platforms import deliver

    data = yaml.safe_load(load_platform("douyin").model_dump_json())
    data.update(name="quiet", width=270, height=480, covers={"9x16": [270, 480]},
                loudness={"integrated_lufs": -20.0, "true_peak_db": -2.0})
    (tmp_path / "quiet.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    folder, reqs = deliver(run_dir, tmp_path / "quiet.yaml", tmp_path / "quiet")
    by_name = {r.requirement: r for r in reqs}
    assert by_name["integrated loudness"].ok and by_name["true peak"].ok, by_name["integrated loudness"]
    assert json.loads((folder / "checklist.json").read_text(encoding="utf-8"))["video"] == "sound normalised"
    # the picture is passed through: same packets as the run's cut
    assert clip_facts(folder / "episode.mp4") == clip_facts(run_dir / "episode.mp4")
    assert by_name["AIGC label: episode.mp4"].ok  # re-muxed, so labelled again
