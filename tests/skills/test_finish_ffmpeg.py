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


def _clip_of(tiny_episode, tmp_path, frames: int) -> str:
    """The shot's clip re-cut to `frames` frames (a take of another length than its shot)."""
    import subprocess

    from microdrama.media import ffmpeg_exe

    out = tmp_path / f"take{frames}.mp4"
    src = tiny_episode.clips[tiny_episode.board.shots[1].shot.id]
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", src, "-vf", "tpad=stop_mode=clone:stop=-1",
                    "-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast", str(out)], check=True)
    return str(out)


def test_a_take_longer_than_its_shot_is_cut_to_the_shot(tiny_episode, tmp_path):
    base = finish_input(tiny_episode)
    longer = base.model_copy(update={"clip": _clip_of(tiny_episode, tmp_path, base.frames + 7),
                                     "clip_frames": base.frames + 7})
    out = FfmpegShotFinisher()(longer, SkillContext(tmp_path / "cut")).output
    assert frames(out.video).shape[0] == base.frames


def test_a_take_shorter_than_its_shot_holds_its_last_frame(tiny_episode, tmp_path):
    base = finish_input(tiny_episode).model_copy(update={"events": []})
    short = base.model_copy(update={"clip": _clip_of(tiny_episode, tmp_path, base.frames - 3),
                                    "clip_frames": base.frames - 3})
    got = frames(FfmpegShotFinisher()(short, SkillContext(tmp_path / "held")).output.video)
    assert got.shape[0] == base.frames
    for held in got[base.frames - 3:]:
        assert np.abs(held - got[base.frames - 4]).mean() < 1.0


def test_a_take_more_than_the_hold_short_is_refused_before_encoding(tiny_episode, tmp_path):
    base = finish_input(tiny_episode)
    stub = base.model_copy(update={"clip": _clip_of(tiny_episode, tmp_path, 1), "clip_frames": 1})
    assert base.frames - 1 > FPS  # more than the 1-s hold
    with pytest.raises(InputError, match="clip_frames \\(1\\) is .* frames short of the shot.*redo the shot"):
        FfmpegShotFinisher()(stub, SkillContext(tmp_path / "stub"))
    assert not list((tmp_path / "stub").glob("*.mp4"))
