"""Timeline export: a tiny rendered run read back as OpenTimelineIO and as FCPXML."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.domain import parse_model
from microdrama.errors import InputError
from tests.helpers import write_tone_bed

pytestmark = pytest.mark.slow  # renders a (tiny) episode once for the module

otio = pytest.importorskip("opentimelineio")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prefect_harness) -> Path:
    from tests.conftest import TINY_SCREENPLAY

    root = tmp_path_factory.mktemp("export")
    (root / "screenplay.yaml").write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    write_tone_bed(root / "bed.wav")  # a 2-second tone as the music bed
    config = parse_model(ProjectConfig, {
        "project_code": "RD-EXPORT", "render": {"width": 144, "height": 256, "fps": 5}, "subtitles": {"font_size": 12},
        "qa": {"dub_qa": "off"}, "labels": {"enabled": False},  # 144 px is below the visible mark's 5% check
        "filing": {"licence_number": "沪-0001"}, "music": [{"file": str(root / "bed.wav"), "licence": "made here"}]})
    from microdrama.pipelines.episode import episode_flow

    summary = episode_flow(source=root / "screenplay.yaml", config=config, out_dir=root / "out", run_name="ep1")
    return Path(summary.run_dir)


def test_otio_export_has_frame_exact_shots_dialogue_music_and_label_markers(run_dir):
    from microdrama.export import export_run

    path = export_run(run_dir, "otio")
    timeline = otio.adapters.read_from_file(str(path))
    board = json.loads((run_dir / "storyboard.json").read_text(encoding="utf-8"))
    video, dialogue, music = timeline.tracks
    assert video.kind == "Video" and [c.name for c in video.find_clips()] == [s["shot"]["id"] for s in board["shots"]]
    assert [c.source_range.duration for c in video.find_clips()] == [otio.opentime.RationalTime(s["frames"], 5)
                                                                      for s in board["shots"]]
    assert video.duration() == otio.opentime.RationalTime(sum(s["frames"] for s in board["shots"]), 5)
    cues = [c for s in board["shots"] for c in s["cues"]]
    lines = list(dialogue.find_clips())
    assert [c.name for c in lines] == [c["line_id"] for c in cues]
    for clip, cue in zip(lines, cues):  # each line where the storyboard cues it, to the sample
        assert clip.range_in_parent().start_time.to_seconds() == pytest.approx(cue["start_s"], abs=1e-4)
    assert music.name.endswith("music") and list(music.find_clips())[0].duration().to_seconds() == pytest.approx(
        video.duration().to_seconds())
    assert [m.name for m in timeline.tracks.markers] == ["AI label: AI生成", "opening card: 备案号：沪-0001"]
    for clip in timeline.find_clips():  # media named relative to the export, copied there
        assert not Path(clip.media_reference.target_url).is_absolute()
        assert (path.parent / clip.media_reference.target_url).is_file()
    assert list(timeline.metadata["microdrama"]["subtitles"]) == ["episode.srt", "episode.ass"]
    assert (path.parent / "episode.srt").read_bytes() == (run_dir / "episode.srt").read_bytes()


def test_the_shot_clips_are_the_clean_takes_not_the_burned_cut(run_dir):
    from microdrama.export import plan_export

    plan = plan_export(run_dir)
    takes = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["takes"]["takes"]
    assert {rel: str(src) for rel, src in plan.copies.items() if rel.startswith("media/shots/")} == {
        f"media/shots/{t['shot_id']}.mp4": t["video"] for t in takes}


def test_fcpxml_export_parses_with_the_shots_on_the_spine(run_dir, tmp_path):
    from microdrama.export import export_run

    path = export_run(run_dir, "fcpxml", tmp_path / "fcp")
    root = ET.parse(path).getroot()
    assert root.tag == "fcpxml"
    spine = root.find("library/event/project/sequence/spine")
    assert [c.get("name") for c in spine.findall("asset-clip")] == ["s01", "s02", "s03"]
    assert {c.get("name") for c in spine.iter("asset-clip") if c.get("lane") == "-1"} == {
        "s01-l1", "s02-l1", "s02-l2", "s03-l1"}
    for rep in root.iter("media-rep"):
        assert Path(rep.get("src").removeprefix("file://")).is_file()


def test_export_refuses_an_unknown_format_and_a_folder_that_is_not_a_run(run_dir, tmp_path):
    from microdrama.export import export_run

    with pytest.raises(InputError, match="--format 'edl'"):
        export_run(run_dir, "edl")
    with pytest.raises(InputError, match="no manifest.json"):
        export_run(tmp_path, "otio")


def test_the_rendered_run_publishes_its_covers(run_dir):
    """The covers hook in Run.publish_outputs (covers are tested in test_covers.py; this run renders once here)."""
    from PIL import Image

    assert Image.open(run_dir / "covers" / "cover-9x16.jpg").size == (1080, 1920)
    assert Image.open(run_dir / "covers" / "cover-3x4.jpg").size == (1080, 1440)


def test_a_take_kept_through_an_edit_is_cut_or_held_in_the_timeline(run_dir, tmp_path):
    """A take longer than its shot shows only the shot's frames (its tail is available media); one shorter is
    followed by its last frame as a freeze frame, so every shot still starts on its storyboard frame."""
    import shutil
    import subprocess

    from microdrama.export import export_run
    from microdrama.media import clip_facts, ffmpeg_exe

    copy = tmp_path / "ep1"
    shutil.copytree(run_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    board = json.loads((copy / "storyboard.json").read_text(encoding="utf-8"))
    frames = {s["shot"]["id"]: s["frames"] for s in board["shots"]}
    take = next(t for t in manifest["takes"]["takes"] if t["shot_id"] == "s02")
    short = tmp_path / "s02-short.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", take["video"], "-c", "copy", "-frames:v",
                    str(frames["s02"] - 2), str(short)], check=True)
    take["video"] = str(short)
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    timeline = otio.adapters.read_from_file(str(export_run(copy, "otio")))
    video = timeline.tracks[0]
    clips = list(video.find_clips())
    assert [c.name for c in clips] == ["s01", "s02", "s02 (held)", "s03"]
    assert video.duration() == otio.opentime.RationalTime(sum(frames.values()), 5)
    held = clips[2]
    assert [type(e).__name__ for e in held.effects] == ["FreezeFrame"]
    assert (held.source_range.start_time.value, held.source_range.duration.value) == (frames["s02"] - 3, 2)
    assert clips[1].media_reference.available_range.duration.value == frames["s02"] - 2
    s01 = next(t for t in manifest["takes"]["takes"] if t["shot_id"] == "s01")
    assert clips[0].media_reference.available_range.duration.value == clip_facts(s01["video"])[1]  # whole take

    spine = ET.parse(export_run(copy, "fcpxml", tmp_path / "fcp")).getroot().find(
        "library/event/project/sequence/spine")
    frozen = [c for c in spine.findall("asset-clip") if c.get("name") == "s02 (held)"]
    assert len(frozen) == 1 and [p.get("value") for p in frozen[0].iter("timept")] == [frozen[0].get("start")] * 2
