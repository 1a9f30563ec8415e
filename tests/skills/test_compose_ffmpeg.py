
import pysubs2
import pytest

from microdrama.errors import InputError
from microdrama.finishing import mark_font_size
from microdrama.labels.visible import AiMark
from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.compose_ffmpeg import FfmpegComposer
from microdrama.stages import (
    ComposeInput,
)
from microdrama.text import font
from tests.skills.conftest import CUT, FPS, H, W
from tests.skills.contract import Case, SkillContract


@pytest.fixture
def parts(tiny_episode):
    e = tiny_episode
    return e.board, dict(e.clips), e.sound, e.subs


def test_final_cut_has_the_storyboard_length_and_one_audio_stream(parts, tmp_path):
    board, clips, sound, subs = parts
    result = FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, subtitles_ass=subs.ass,
                                           encode=CUT), SkillContext(tmp_path / "cut"))
    info = probe(result.output.video)
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and info.audio_streams == 1
    assert info.duration_s == pytest.approx(board.duration_s, abs=0.1)
    assert result.usage.quantities["frames_encoded"] == sum(s.frames for s in board.shots)
    assert len(pysubs2.load(subs.srt)) == len(board.cues())


def test_missing_clip_is_a_clear_error_and_writes_nothing(parts, tmp_path):
    board, clips, sound, _ = parts
    clips.pop("s02")
    out = tmp_path / "cut"
    with pytest.raises(InputError, match="no clip for shot"):
        FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, encode=CUT),
                         SkillContext(out))
    assert not list(out.glob("*.mp4"))


def test_mark_text_is_at_least_five_percent_of_the_shorter_side():
    target = 0.05 * 1080
    size = mark_font_size("AI生成", target)
    left, top, right, bottom = font(size).getbbox("AI生成")
    assert bottom - top >= target
    assert size < 2 * target  # and not absurdly large


def test_mark_must_show_longer_than_two_seconds():
    with pytest.raises(ValueError):
        AiMark(seconds=1.5)
    with pytest.raises(ValueError):
        AiMark(height_fraction=0.04)


class TestComposeContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        e = tiny_episode
        return Case(FfmpegComposer(), ComposeInput(storyboard=e.board, clips=e.clips, sound=e.sound,
                                                   subtitles_ass=e.subs.ass, encode=CUT,
                                                   opening_text="备案号：TEST").model_dump(mode="json"))
