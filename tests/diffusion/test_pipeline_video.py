"""The episode flow with a (tiny) video model instead of the animatic: same compose, same checks."""

import json
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.media import probe

pytestmark = pytest.mark.slow


def test_generated_frames_flow_into_the_same_compose(tiny_models, tmp_path, screenplay_data, prefect_harness):
    _, registry = tiny_models
    source = tmp_path / "sp.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    config = ProjectConfig.model_validate({
        "render": {"width": 270, "height": 480, "fps": 15}, "subtitles": {"font_size": 16},
        "stages": {"visuals": "video-diffusers"},
        "video": {"model": "tiny-wan", "registry": str(registry), "device": "cpu", "reference_model": "tiny-sd"}})
    from microdrama.pipelines.episode import episode_flow

    summary = episode_flow(source=source, config=config, out_dir=tmp_path / "out", run_name="video")
    info = probe(summary.video)
    assert (info.width, info.height, info.audio_streams) == (270, 480, 1)
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    renders = [u for u in manifest["usage"] if u["task"] == "render-shot"]
    assert renders and all(u["usage"]["backend"] == "diffusers tiny-wan" for u in renders)
    assert {u["usage"]["skill"] for u in manifest["usage"] if u["task"] == "character-reference"} == {"keyframe-diffusers"}
    assert set(manifest["character_consistency"]) == {"lin", "zhao"}
    assert {c["method"] for c in manifest["character_consistency"].values()} == {"colour-histogram"}
    local = [p for p in manifest["providers"] if p.get("provider") == "local diffusers"]
    assert {p["shot_id"] for p in local} == {u["shot_id"] for u in renders}  # each shot's setup and peak memory
    assert all(p["parts"][0]["speed"]["compile"] == "none" for p in local)
    assert manifest["skills"]["visuals"]["skill"] == "video-diffusers"
    assert all(r["ok"] for r in manifest["labels"])

