"""Shots from a video API: a length that covers the shot, trimmed; continuation takes for long shots;
image-to-video from the character reference; paid once; the provider recorded."""

import json

import pytest

from microdrama.errors import InputError
from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import time_shots
from microdrama.skills.video_cloud import CloudVideoRenderer
from microdrama.stages import StoryboardInput, VisualsInput
from tests.skills.contract import Case, SkillContract

ENCODE = {"width": 144, "height": 256, "fps": 12, "crf": 18, "preset": "ultrafast"}


def shot_input(screenplay, seconds: float, references=None) -> VisualsInput:
    board, _ = time_shots(StoryboardInput(screenplay=screenplay, fps=12, line_durations={
        "s01-l1": seconds - 0.6, "s02-l1": 0.5, "s02-l2": 0.5, "s03-l1": 0.5}))
    ts = board.shots[0]
    return VisualsInput(shot=ts, characters=[screenplay.series.character(c) for c in ts.shot.characters],
                        encode=ENCODE, reference_images=references or {})


def options(account, **kw):
    return {"provider": account.model_dump(), "model": "wan2.2-t2v-plus", **kw}


def test_a_short_shot_is_one_clip_trimmed_to_the_shot(screenplay, dashscope, dashscope_account, tmp_path):
    skill = CloudVideoRenderer()
    inputs = shot_input(screenplay, 3.0)
    result = skill(inputs, SkillContext(tmp_path), skill.parse_options(options(dashscope_account)))
    clip = result.output
    info = probe(clip.video)
    assert (info.width, info.height) == (144, 256) and clip.frames == inputs.shot.frames
    assert info.duration_s == pytest.approx(inputs.shot.duration_s, abs=0.1)
    assert result.usage.quantities["api_video_seconds_480p"] == 5 and result.usage.quantities["video_takes"] == 1
    assert result.usage.backend == f"dashscope wan2.2-t2v-plus@{dashscope_account.host}"
    record = json.loads((tmp_path / "provider.json").read_text())
    assert record["counterparty"].startswith("Alibaba Cloud") and record["tasks"] and dashscope.submissions == 1


def test_a_shot_longer_than_the_longest_clip_is_continued_from_its_last_frame(screenplay, dashscope,
                                                                              dashscope_account, tmp_path):
    skill = CloudVideoRenderer()
    inputs = shot_input(screenplay, 9.0)  # wan2.2 clips are 5 s: two takes, the second from the first's last frame
    result = skill(inputs, SkillContext(tmp_path), skill.parse_options(
        options(dashscope_account, i2v_model="wan2.2-i2v-plus")))
    assert result.usage.quantities["video_takes"] == 2 and dashscope.submissions == 2
    second = dashscope.tasks["task-0002"].request
    assert second["model"] == "wan2.2-i2v-plus" and second["input"]["img_url"].startswith("data:image/png;base64,")
    assert probe(result.output.video).duration_s == pytest.approx(inputs.shot.duration_s, abs=0.1)


def test_a_long_shot_without_an_image_to_video_model_is_refused_before_paying(screenplay, dashscope_account):
    skill = CloudVideoRenderer()
    with pytest.raises(InputError, match="i2v_model"):
        skill.check_inputs(shot_input(screenplay, 9.0), skill.parse_options(options(dashscope_account)))


def test_the_first_take_starts_from_the_character_reference(screenplay, dashscope, dashscope_account, tmp_path):
    from PIL import Image

    ref = tmp_path / "lin.png"
    Image.new("RGB", (480, 832), (200, 120, 90)).save(ref)
    inputs = shot_input(screenplay, 3.0, references={c: str(ref) for c in ["lin", "zhao"]})
    skill = CloudVideoRenderer()
    skill(inputs, SkillContext(tmp_path / "out"), skill.parse_options(
        options(dashscope_account, i2v_model="wan2.2-i2v-plus")))
    first = dashscope.tasks["task-0001"].request
    assert first["model"] == "wan2.2-i2v-plus" and first["parameters"]["resolution"] == "480P"


def test_no_account_says_where_to_add_one(screenplay):
    skill = CloudVideoRenderer()
    with pytest.raises(InputError, match="cloud:"):
        skill.check_inputs(shot_input(screenplay, 3.0), skill.parse_options({"model": "wan2.2-t2v-plus"}))


class TestVideoCloudContract(SkillContract):
    @pytest.fixture
    def case(self, screenplay, dashscope, dashscope_account):
        return Case(CloudVideoRenderer(), shot_input(screenplay, 2.5).model_dump(mode="json"),
                    options(dashscope_account))


def test_the_quote_is_what_the_call_is_billed(screenplay, dashscope, dashscope_account, tmp_path):
    skill = CloudVideoRenderer()
    inputs, opts = shot_input(screenplay, 9.0), skill.parse_options(options(dashscope_account, i2v_model="wan2.2-i2v-plus"))
    quoted = skill.quote(inputs, opts)
    billed = skill(inputs, SkillContext(tmp_path), opts).usage.quantities
    assert quoted == {"api_video_seconds_480p": 10.0, "api_calls": 2.0}
    assert billed["api_video_seconds_480p"] == quoted["api_video_seconds_480p"]
    assert skill.vendor_for(opts).startswith("Alibaba Cloud")


def test_the_providers_own_label_is_kept_and_recorded(screenplay, dashscope, dashscope_account, tmp_path):
    from microdrama.files import sha256_file

    label = '{"AIGC":{"Label":"1","ContentProducer":"001191110108MA01KP2T5UXXXXX0001","ProduceID":"task-0001"}}'
    dashscope.label_json = label
    skill = CloudVideoRenderer()
    skill(shot_input(screenplay, 3.0), SkillContext(tmp_path), skill.parse_options(options(dashscope_account)))
    original = json.loads((tmp_path / "provider.json").read_text())["originals"][0]
    assert original["tc260"] == label  # recorded as the upstream producer's label
    kept = tmp_path / "takes" / original["file"]
    assert sha256_file(kept) == sha256_file(dashscope.files / "v1.mp4") == original["sha256"]  # unchanged


def test_a_24_fps_clip_reaches_30_fps_without_repeated_frames(screenplay, dashscope, dashscope_account, tmp_path):
    import av
    import numpy as np

    from microdrama.stages import EncodeSpec

    inputs = shot_input(screenplay, 2.0)
    inputs = inputs.model_copy(update={"encode": EncodeSpec(width=144, height=256, fps=30, crf=18, preset="ultrafast"),
                                       "shot": inputs.shot.model_copy(update={"frames": 60})})
    skill = CloudVideoRenderer()
    clip = skill(inputs, SkillContext(tmp_path), skill.parse_options(options(dashscope_account,
                                                                              interpolation="blend"))).output
    with av.open(clip.video) as c:
        frames = [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]
    assert len(frames) == 60
    repeats = sum(np.abs(a - b).mean() < 0.5 for a, b in zip(frames, frames[1:]))
    assert repeats <= 1, f"{repeats} repeated frames: the rate was raised by repeating frames (judder)"
