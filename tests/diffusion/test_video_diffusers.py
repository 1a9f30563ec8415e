"""Real diffusers loading and inference, with tiny pipelines built offline (diffusers' own test style)."""

import av
import numpy as np
import pytest

import microdrama.diffusion_registry as diffusion_registry
from microdrama.diffusion_registry import ModelRegistry, check_folder
from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.keyframe_diffusers import DiffusersKeyframe
from microdrama.skills.storyboard import time_shots
from microdrama.skills.video_diffusers import DiffusersVideoRenderer
from microdrama.stages import EncodeSpec, KeyframeInput, StoryboardInput, VisualsInput
from tests.skills.contract import Case, SkillContract

W, H, FPS = 270, 480, 15


def shot(screenplay, i=0):
    board, _ = time_shots(StoryboardInput(screenplay=screenplay, fps=FPS))
    return board.shots[i]


def render(screenplay, registry, tmp_path, **kw):
    ts = shot(screenplay)
    chars = [screenplay.series.character(c) for c in ts.shot.characters]
    encode = EncodeSpec(width=W, height=H, fps=FPS, crf=18, preset="ultrafast")
    options = {"model": "tiny-wan", "registry": registry, "device": "cpu", **kw}
    return DiffusersVideoRenderer()(VisualsInput(shot=ts, characters=chars, encode=encode), SkillContext(tmp_path),
                                    options), ts


def decoded(path):
    with av.open(path) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_video_model_renders_a_clip_compose_accepts(tiny_models, screenplay, tmp_path):
    _, registry = tiny_models
    result, ts = render(screenplay, registry, tmp_path / "a")
    frames = decoded(result.output.video)
    assert frames.shape == (ts.frames, H, W, 3)  # generated frames scaled to 9:16 and timed to the shot
    assert result.output.source.startswith("tiny-wan")
    q = result.usage.quantities
    assert q["frames_generated"] == 21 and q["video_takes"] == 1 and q["frames_rendered"] == ts.frames
    assert result.usage.device == "cpu" and result.usage.gpu_seconds == 0.0
    assert result.usage.backend == "diffusers tiny-wan"


def test_the_same_shot_renders_the_same_pixels(tiny_models, screenplay, tmp_path):
    _, registry = tiny_models
    a, _ = render(screenplay, registry, tmp_path / "a")
    b, _ = render(screenplay, registry, tmp_path / "b")
    assert np.array_equal(decoded(a.output.video), decoded(b.output.video))
    c, _ = render(screenplay, registry, tmp_path / "c", seed=7)
    assert not np.array_equal(decoded(a.output.video), decoded(c.output.video))


def test_the_pipeline_is_loaded_once_per_process(tiny_models, screenplay, tmp_path, monkeypatch):
    _, registry = tiny_models
    diffusion_registry._resident.clear()
    import diffusers

    calls = []
    original = diffusers.DiffusionPipeline.from_pretrained
    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained",
                        classmethod(lambda cls, *a, **k: calls.append(a) or original(*a, **k)))
    render(screenplay, registry, tmp_path / "a")
    render(screenplay, registry, tmp_path / "b", seed=3)
    assert len(calls) == 1


def test_a_missing_model_folder_says_what_to_fetch(tiny_models):
    _, registry = tiny_models
    with pytest.raises(InputError) as exc:
        check_folder(ModelRegistry.load(registry).get("absent"))
    assert "model_index.json" in str(exc.value) and "huggingface-cli download Wan-AI/Wan2.1-T2V-1.3B" in str(exc.value)


def test_an_incomplete_folder_names_the_missing_component(tiny_models, tmp_path):
    import shutil

    root, registry = tiny_models
    broken = tmp_path / "broken-wan"
    shutil.copytree(root / "tiny-wan", broken)
    shutil.rmtree(broken / "vae")
    spec = ModelRegistry.load(registry).get("tiny-wan").model_copy(update={"local_path": broken})
    with pytest.raises(InputError, match="incomplete: missing vae"):
        check_folder(spec)


def test_keyframe_model_draws_a_reference_image(tiny_models, tmp_path):
    from PIL import Image

    _, registry = tiny_models
    options = {"model": "tiny-sd", "registry": registry, "device": "cpu"}
    out = DiffusersKeyframe()(KeyframeInput(key="lin", prompt="a woman in a white shirt"), SkillContext(tmp_path),
                              options).output
    assert Image.open(out.image).size == (32, 32)
    again = DiffusersKeyframe()(KeyframeInput(key="lin", prompt="a woman in a white shirt"),
                                SkillContext(tmp_path / "b"), options).output
    assert again.seed == out.seed  # a character's seed is fixed by its id


def test_image_models_are_refused_for_video(tiny_models, screenplay):
    _, registry = tiny_models
    with pytest.raises(InputError, match="makes images, not video"):
        skill = DiffusersVideoRenderer()
        skill.check_inputs(VisualsInput(shot=shot(screenplay)), skill.parse_options({"model": "tiny-sd",
                                                                                    "registry": registry}))


def test_bundled_registry_records_licences_and_9_16_defaults():
    reg = ModelRegistry.load()
    assert {"wan2.1-t2v-1.3b", "ltx-video-2b", "cogvideox-5b", "hunyuanvideo", "flux.1-schnell", "sdxl-base-1.0",
            "kolors", "sd3.5-medium", "wan2.1-i2v-14b-480p"} <= {m.id for m in reg.models}
    assert all(m.licence for m in reg.models)
    assert all(m.defaults.height > m.defaults.width for m in reg.models)


def test_shots_rendered_in_parallel_share_the_resident_pipeline_safely(tiny_models, screenplay, tmp_path):
    """A diffusers scheduler keeps per-call state: concurrent shots must take turns on the pipeline."""
    from concurrent.futures import ThreadPoolExecutor

    _, registry = tiny_models
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(render, screenplay, registry, tmp_path / f"t{i}", seed=i) for i in range(4)]
        results = [f.result() for f in futures]
    assert len({r[0].output.video for r in results}) == 4
    assert all(decoded(r[0].output.video).shape[0] == r[1].frames for r in results)


def decoded_digest(path) -> str:
    import hashlib

    return hashlib.sha256(decoded(str(path)).tobytes()).hexdigest() if str(path).endswith(".mp4") else \
        hashlib.sha256(open(path, "rb").read()).hexdigest()


class TestVideoDiffusersContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_models, screenplay):
        _, registry = tiny_models
        ts = shot(screenplay)
        data = VisualsInput(shot=ts, characters=[screenplay.series.character(c) for c in ts.shot.characters],
                            encode=EncodeSpec(width=W, height=H, fps=FPS, crf=18, preset="ultrafast"))
        return Case(DiffusersVideoRenderer(), data.model_dump(mode="json"),
                    {"model": "tiny-wan", "registry": str(registry), "device": "cpu"}, digest=decoded_digest)


class TestKeyframeDiffusersContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_models):
        _, registry = tiny_models
        return Case(DiffusersKeyframe(), {"key": "lin", "prompt": "a woman in a white shirt"},
                    {"model": "tiny-sd", "registry": str(registry), "device": "cpu"})
