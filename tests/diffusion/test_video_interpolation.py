"""The video skill's fps conversion by a frame-interpolation model from a local folder, on the tiny Wan pipeline."""

import json
from pathlib import Path

import pytest

import microdrama.interpolation as interpolation
from microdrama.errors import InputError
from microdrama.skills.video_diffusers import DiffusersVideoRenderer
from tests.diffusion.test_video_timing import H, W, decoded, longest_still_run, render, visuals

pytest.importorskip("onnx")


def test_a_16_fps_model_reaches_30_fps_through_the_interpolation_model_and_says_so(tiny_models, screenplay,
                                                                                   tmp_path, monkeypatch):
    from tests.test_interpolation import build_model

    _, registry = tiny_models
    folder = build_model(tmp_path / "rife")
    seen = []
    original = interpolation.Interpolator.between
    monkeypatch.setattr(interpolation.Interpolator, "between",
                        lambda self, a, b, t: seen.append(t) or original(self, a, b, t))
    data = visuals(screenplay, fps=30)
    result = render(data, registry, tmp_path / "run", model="tiny-wan-16fps", interpolation_model=folder)
    frames = decoded(result.output.video)
    assert frames.shape == (data.shot.frames, H, W, 3) and longest_still_run(frames) == 1
    assert seen and all(0 < t < 1 for t in seen)  # the in-betweens are the model's, at fractional times
    record = json.loads((Path(result.output.video).parent / "provider.json").read_text())["frame_rate"]
    assert (record["method"], record["model"], record["licence"]) == ("model", "blend (test)", "MIT")
    assert record["execution_provider"] == "CPUExecutionProvider" and record["in_betweens"] == len(seen)
    assert (record["from_fps"], record["to_fps"]) == (16, 30)


def test_without_a_model_ffmpeg_does_it_and_that_is_recorded(tiny_models, screenplay, tmp_path):
    _, registry = tiny_models
    result = render(visuals(screenplay, fps=30), registry, tmp_path, model="tiny-wan-16fps", interpolation="blend")
    record = json.loads((Path(result.output.video).parent / "provider.json").read_text())["frame_rate"]
    assert record["method"] == "ffmpeg minterpolate (blend)"


def test_a_bad_interpolation_folder_is_refused_before_any_gpu_work(tiny_models, screenplay, tmp_path):
    _, registry = tiny_models
    skill = DiffusersVideoRenderer()
    options = skill.parse_options({"model": "tiny-wan-16fps", "registry": registry, "device": "cpu",
                                   "interpolation_model": tmp_path / "absent"})
    with pytest.raises(InputError, match="options.video-diffusers.interpolation_model: .* is not a folder"):
        skill.check_inputs(visuals(screenplay, fps=30), options)

