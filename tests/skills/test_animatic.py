import av
import numpy as np
import pytest

from microdrama.domain import CameraMove
from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.animatic import AnimaticRenderer, motion_filter
from microdrama.skills.storyboard import time_shots
from microdrama.stages import StoryboardInput, VisualsInput
from tests.skills.conftest import CLIP
from tests.skills.contract import Case, SkillContract


def timed_shots(screenplay):
    board, _ = time_shots(StoryboardInput(screenplay=screenplay, line_durations={
        "s01-l1": 0.5, "s02-l1": 0.4, "s02-l2": 0.4, "s03-l1": 0.5}, fps=12))
    return board.shots


def frames_of(path):
    with av.open(path) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


def render(screenplay, tmp_path, index, **kw):
    ts = timed_shots(screenplay)[index]
    chars = [screenplay.series.character(c) for c in ts.shot.characters]
    encode = {"width": 144, "height": 256, "fps": 12, "crf": 18, "preset": "ultrafast", **kw}
    return AnimaticRenderer()(VisualsInput(shot=ts, characters=chars, encode=encode),
                              SkillContext(tmp_path)), ts


@pytest.mark.parametrize("index", [0, 1])  # push_in, pan_right
def test_clip_has_exact_frames_size_and_moves(screenplay, tmp_path, index):
    result, ts = render(screenplay, tmp_path, index)
    frames = frames_of(result.output.video)
    assert len(frames) == ts.frames == result.output.frames
    assert frames[0].shape == (256, 144)
    assert np.abs(frames[0] - frames[-1]).mean() > 2, "the camera move changes the picture"
    assert result.usage.quantities["frames_rendered"] == ts.frames


def test_static_shot_holds_still(screenplay, tmp_path):
    result, ts = render(screenplay, tmp_path, 2)
    assert ts.shot.camera_move == CameraMove.static
    frames = frames_of(result.output.video)
    assert np.abs(frames[0] - frames[-1]).mean() < 1.0


def test_clip_is_labelled_as_previz(screenplay, tmp_path):
    result, _ = render(screenplay, tmp_path, 0)
    assert result.output.source == "animatic (previz)"
    assert "not a video model" in AnimaticRenderer.backend


def test_every_camera_move_builds_a_filter():
    for move in CameraMove:
        assert "1080" in motion_filter(move, 30, 1080, 1920, 30)


def test_odd_sizes_are_rejected_naming_the_field(screenplay, tmp_path):
    with pytest.raises(ValueError, match="multiple of 2"):
        render(screenplay, tmp_path, 0, width=145)
    with pytest.raises(InputError, match=r"encode\.width.*multiple of 2"):
        AnimaticRenderer().parse_input({"shot": timed_shots(screenplay)[0].model_dump(), "encode": {"width": 145}})


class TestAnimaticContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        ts = tiny_episode.board.shots[1]
        chars = [tiny_episode.screenplay.series.character(c) for c in ts.shot.characters]
        return Case(AnimaticRenderer(), VisualsInput(shot=ts, characters=chars, encode=CLIP).model_dump(mode="json"))
