"""Finishing one shot: its subtitles, the AI mark and the opening card burned into its clip (fast, 144x256)."""

import av
import numpy as np
import pytest

from microdrama.errors import InputError
from microdrama.labels.visible import AiMark, measure
from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.finish_ffmpeg import FfmpegShotFinisher
from microdrama.stages import FinishInput, SubEvent
from tests.skills.conftest import CUT, FPS, H, W
from tests.skills.contract import Case, SkillContract


def finish_input(e, index=1, **kw) -> FinishInput:
    ts = e.board.shots[index]
    events = [SubEvent(start_s=c.shot_start_s, end_s=c.shot_end_s, rows=[c.text]) for c in ts.cues]
    return FinishInput(shot_id=ts.shot.id, clip=e.clips[ts.shot.id], frames=ts.frames, encode=CUT, events=events,
                       style={"font_size": 12}, **kw)


def frames(path):
    with av.open(path) as c:
        return np.stack([f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)])


def test_a_finished_shot_has_the_clip_frames_size_and_rate(tiny_episode, tmp_path):
    inputs = finish_input(tiny_episode)
    out = FfmpegShotFinisher()(inputs, SkillContext(tmp_path)).output
    info = probe(out.video)
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert frames(out.video).shape[0] == inputs.frames == out.frames
    assert info.audio_streams == 0  # sound is added once, when the shots are assembled


def test_subtitles_are_burned_only_while_their_line_is_spoken(tiny_episode, tmp_path):
    bare = frames(FfmpegShotFinisher()(finish_input(tiny_episode, events=None) if False else finish_input(
        tiny_episode).model_copy(update={"events": []}), SkillContext(tmp_path / "bare")).output.video)
    inputs = finish_input(tiny_episode)
    burned = frames(FfmpegShotFinisher()(inputs, SkillContext(tmp_path / "subs")).output.video)
    bottom = slice(int(H * 0.6), H)  # subtitles sit above the bottom margin, below the picture's middle
    cue = inputs.events[0]
    during, after = int((cue.start_s + cue.end_s) / 2 * FPS), inputs.frames - 1
    assert np.abs(burned[during, bottom] - bare[during, bottom]).mean() > 1.0
    if after / FPS > inputs.events[-1].end_s + 0.2:
        assert np.abs(burned[after, bottom] - bare[after, bottom]).mean() < 0.5


def test_the_mark_is_drawn_and_measured_at_five_percent(tiny_episode, tmp_path):
    out = FfmpegShotFinisher()(finish_input(tiny_episode, mark=AiMark(height_fraction=0.08)),
                               SkillContext(tmp_path)).output
    samples, shorter = measure(out.video, until_s=1.0)
    assert samples and all(s.height_px >= 0.05 * shorter for s in samples)


def test_a_subtitle_outside_the_shot_is_refused_before_encoding(tiny_episode, tmp_path):
    inputs = finish_input(tiny_episode)
    late = inputs.model_copy(update={"events": [SubEvent(start_s=0.1, end_s=inputs.frames / FPS + 5, rows=["x"])]})
    with pytest.raises(InputError, match="must lie inside the shot"):
        FfmpegShotFinisher()(late, SkillContext(tmp_path))
    assert not list(tmp_path.glob("*.mp4"))


class TestFinishContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        return Case(FfmpegShotFinisher(), finish_input(tiny_episode, opening_text="备案号：TEST",
                                                       opening_until_s=1.0).model_dump(mode="json"))


def test_a_percent_sign_in_the_opening_card_is_drawn_as_text(tiny_episode, tmp_path):
    """drawtext would expand '%{…}' sequences; a filing number like '沪剧备%2026' must just be text."""
    out = FfmpegShotFinisher()(finish_input(tiny_episode, index=0, opening_text="备案号：沪剧备%{pts}%2026",
                                            opening_until_s=1.0), SkillContext(tmp_path)).output
    assert probe(out.video).width == W
