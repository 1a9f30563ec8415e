"""Image-to-video as installed, memory options that fit the card, and shots without judder or slow motion."""

import sys
from pathlib import Path

import av
import numpy as np
import pytest
import tomllib

import microdrama.diffusion_registry as diffusion_registry
from microdrama.diffusion_registry import MemoryOptions, ModelRegistry, memory_plan
from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import time_shots
from microdrama.skills.video_diffusers import DiffusersVideoRenderer, plan_takes
from microdrama.stages import EncodeSpec, StoryboardInput, VisualsInput

W, H = 270, 480


def visuals(screenplay, i=0, fps=15, refs=None):
    board, _ = time_shots(StoryboardInput(screenplay=screenplay, fps=fps))
    ts = board.shots[i]
    return VisualsInput(shot=ts, characters=[screenplay.series.character(c) for c in ts.shot.characters],
                        encode=EncodeSpec(width=W, height=H, fps=fps, crf=18, preset="ultrafast"),
                        reference_images=refs or {})


def reference(tmp_path) -> str:
    from PIL import Image

    path = tmp_path / "lin.png"
    Image.fromarray((np.random.RandomState(1).rand(64, 64, 3) * 255).astype(np.uint8)).save(path)
    return str(path)


def decoded(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.int16)


def longest_still_run(frames, tolerance=0.5) -> int:
    """Longest run of consecutive frames that are (near-)identical: a repeated frame is a run of 2."""
    longest = run = 1
    for a, b in zip(frames, frames[1:]):
        run = run + 1 if np.abs(a - b).mean() < tolerance else 1
        longest = max(longest, run)
    return longest


def render(data, registry, tmp_path, **kw):
    options = {"model": "tiny-wan", "registry": registry, "device": "cpu", **kw}
    return DiffusersVideoRenderer()(data, SkillContext(tmp_path), options)


# ---- (1) image-to-video as installed -----------------------------------------------------------------


def test_the_diffusion_extra_brings_what_wan_image_to_video_imports_unguarded():
    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra in ("diffusion", "dev"):
        assert any(r.startswith("ftfy") for r in extras[extra]), extra


def test_image_to_video_model_renders_from_the_reference_image(tiny_models, screenplay, tmp_path):
    _, registry = tiny_models
    data = visuals(screenplay, refs={"lin": reference(tmp_path)})
    result = render(data, registry, tmp_path / "a", model="tiny-wan-i2v")
    assert decoded(result.output.video).shape == (data.shot.frames, H, W, 3)
    assert result.output.source.startswith("tiny-wan-i2v")


def test_without_ftfy_the_image_to_video_pipeline_fails(tiny_models, screenplay, tmp_path, monkeypatch):
    """What the test above guards: diffusers binds `ftfy` only if it was importable, then calls it unguarded."""
    import diffusers.pipelines.wan.pipeline_wan_i2v as wan_i2v

    monkeypatch.setitem(sys.modules, "ftfy", None)
    monkeypatch.delattr(wan_i2v, "ftfy")  # the module state of an install without ftfy
    _, registry = tiny_models
    with pytest.raises(NameError, match="ftfy"):
        render(visuals(screenplay, refs={"lin": reference(tmp_path)}), registry, tmp_path / "a", model="tiny-wan-i2v")


def test_image_to_video_needs_a_character_on_screen_with_a_reference(tiny_models, screenplay):
    _, registry = tiny_models
    skill = DiffusersVideoRenderer()
    with pytest.raises(InputError, match="needs a reference image"):
        skill.check_inputs(visuals(screenplay, i=2), skill.parse_options({"model": "tiny-wan-i2v",
                                                                          "registry": registry}))


# ---- (2) memory options that fit the card ------------------------------------------------------------


def test_an_80_gb_card_never_offloads_a_model_that_fits():
    for spec in ModelRegistry.load().models:
        if spec.footprint_gb and spec.footprint_gb < 70:
            plan = memory_plan(spec.footprint_gb, 79.0, spec.memory, spec.offload_footprint_gb)
            assert (plan.cpu_offload, plan.vae_tiling) == ("none", False), spec.id
            assert "fits" in plan.reason


def test_a_24_gb_card_still_runs_the_14b_model():
    spec = ModelRegistry.load().get("wan2.1-i2v-14b-480p")
    plan = memory_plan(spec.footprint_gb, 23.0, spec.memory, spec.offload_footprint_gb)
    assert plan.cpu_offload == "sequential" and plan.vae_tiling and plan.vae_slicing  # its denoiser alone is ~28 GB
    assert "does not fit" in plan.reason
    on_40 = memory_plan(spec.footprint_gb, 39.0, spec.memory, spec.offload_footprint_gb)
    assert on_40.cpu_offload == "model" and on_40.vae_tiling and not on_40.vae_slicing
    small = ModelRegistry.load().get("wan2.1-t2v-1.3b")
    assert memory_plan(small.footprint_gb, 23.0, small.memory).cpu_offload == "none"  # 19 GB fits with headroom


def test_cpu_runs_never_offload_and_registry_values_override():
    assert memory_plan(37.5, None, MemoryOptions(cpu_offload=True)).reason.startswith("CPU run")
    forced = memory_plan(19.0, 79.0, MemoryOptions(cpu_offload=True, vae_tiling=True))
    assert forced.cpu_offload == "model" and forced.vae_tiling and "registry sets cpu_offload=true" in forced.reason
    unknown = memory_plan(None, 79.0)
    assert unknown.cpu_offload == "none" and "footprint_gb" in unknown.reason


def test_the_memory_choice_is_logged_at_load(tiny_models, screenplay, tmp_path, caplog):
    _, registry = tiny_models
    diffusion_registry._resident.clear()
    with caplog.at_level("INFO", logger="microdrama.diffusion"):
        render(visuals(screenplay), registry, tmp_path)
    assert any("tiny-wan on cpu: cpu offload none" in r.getMessage() for r in caplog.records)


def test_continue_with_must_name_an_image_to_video_model():
    with pytest.raises(Exception, match="continue_with 'b' must name an image-to-video model"):
        ModelRegistry.model_validate({"models": [
            {"id": m, "kind": "text-to-video", "pipeline": "WanPipeline", "local_path": m, "licence": "x",
             "defaults": {"width": 16, "height": 32, "steps": 1}, **({"continue_with": "b"} if m == "a" else {})}
            for m in ("a", "b")]})


# ---- (3) frames that cover the shot, continuation takes, no judder -----------------------------------


def test_takes_cover_the_shot_at_the_models_rate_within_its_frame_rule():
    assert plan_takes(2.4, 16, 81, 4) == [41]  # 38.4 frame intervals + 1 spare, rounded up to 4k+1
    assert plan_takes(5.0, 16, 81, 4) == [81]
    assert plan_takes(5.4, 16, 81, 4) == [81]  # slowed 86.4/80 = 1.08x, under the 1.1x limit
    assert plan_takes(8.0, 16, 81, 4) == [81, 49]  # a continuation adds 48 new frames
    assert plan_takes(12.0, 24, 121, 8) == [121, 121, 49]  # 288 intervals: 120 + 120 + 48
    assert plan_takes(1.0, 8, 2, 4) == [1, 5, 5]  # a too-short override still ends (each take adds frames)
    for takes in (plan_takes(s / 10, 16, 81, 4) for s in range(1, 200)):
        assert all((n - 1) % 4 == 0 and n <= 81 for n in takes)


def test_a_long_shot_without_a_continuation_model_is_refused_naming_the_option(tiny_models, screenplay):
    _, registry = tiny_models
    skill = DiffusersVideoRenderer()
    with pytest.raises(InputError, match="set continue_with: <an image-to-video model id> on 'tiny-wan-alone'"):
        skill.check_inputs(visuals(screenplay), skill.parse_options({"model": "tiny-wan-alone",
                                                                     "registry": registry}))


def test_a_shot_longer_than_one_take_is_continued_from_its_last_frame(tiny_models, screenplay, tmp_path,
                                                                      monkeypatch):
    from diffusers import WanImageToVideoPipeline, WanPipeline

    _, registry = tiny_models
    calls = []
    for cls in (WanPipeline, WanImageToVideoPipeline):
        original = cls.__call__

        def spy(self, *a, _original=original, **k):
            out = _original(self, *a, **k)
            calls.append((type(self).__name__, k, out.frames[0]))
            return out

        monkeypatch.setattr(cls, "__call__", spy)
    data = visuals(screenplay)  # 2.4 s; tiny-wan-short makes at most 13 frames at 8 fps here
    result = render(data, registry, tmp_path, model="tiny-wan-short", gen_frames=13)
    assert [(name, k["num_frames"]) for name, k, _ in calls] == [("WanPipeline", 13),
                                                                ("WanImageToVideoPipeline", 9)]
    seed = np.asarray(calls[1][1]["image"])
    last = (np.clip(calls[0][2][-1], 0, 1) * 255).round().astype(np.uint8)
    assert np.array_equal(seed, last)  # the continuation starts from the first take's last frame
    q = result.usage.quantities
    assert q["video_takes"] == 2 and q["frames_generated"] == 22
    assert decoded(result.output.video).shape[0] == data.shot.frames
    assert "tiny-wan-short+tiny-wan-i2v" in result.output.source


def test_a_16_fps_model_delivered_at_30_fps_has_no_repeated_frames(tiny_models, screenplay, tmp_path):
    _, registry = tiny_models
    data = visuals(screenplay, fps=30)
    result = render(data, registry, tmp_path, model="tiny-wan-16fps")
    frames = decoded(result.output.video)
    assert frames.shape == (data.shot.frames, H, W, 3)
    assert result.usage.quantities["frames_generated"] == 41
    assert longest_still_run(frames) == 1



@pytest.mark.parametrize("mode", ["mci", "blend"])
def test_frame_repetition_judders_and_interpolation_does_not(tmp_path, mode):
    """The metric above sees the old judder: 16 -> 30 fps by `fps=30` repeats 14 of every 30 frames."""
    from microdrama.media import fit_frames, run_ffmpeg

    y, x = np.mgrid[0:64, 0:48]
    video = np.stack([np.stack([(x * 5 + t * 7) % 256, (y * 4 + t * 3) % 256, (x + y + t * 11) % 256], -1)
                      for t in range(41)]).astype(np.uint8)  # moving ramps: every frame differs
    raw = tmp_path / "v.rgb"
    raw.write_bytes(video.tobytes())
    repeated = tmp_path / "repeated.mp4"
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x64", "-r", "16", "-i", raw, "-vf",
                "fps=30,format=yuv420p", "-frames:v", "72", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18",
                repeated])
    assert longest_still_run(decoded(repeated)) >= 2
    smooth = fit_frames(video, 16, tmp_path / "smooth.mp4", width=W, height=H, fps=30, frames=72, mode=mode,
                        crf=18, preset="ultrafast")
    frames = decoded(smooth)
    assert frames.shape[0] == 72 and longest_still_run(frames) == 1


def test_stretch_beyond_the_limit_is_refused():
    from microdrama.media import retime_filter

    assert retime_filter(16, 30, 1.05).startswith("setpts=1.050000*PTS,minterpolate=fps=30")
    assert retime_filter(24, 15) == "fps=15"
    with pytest.raises(ValueError, match="slow motion"):
        retime_filter(16, 30, 1.5)
