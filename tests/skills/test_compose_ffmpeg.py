
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


def _colour_clip(path, colour: str, frames: int) -> str:
    import subprocess

    from microdrama.media import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", f"color={colour}:s={W}x{H}:r={FPS}",
                    "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    str(path)], check=True)
    return str(path)


def test_takes_longer_or_shorter_than_their_shots_are_fitted_frame_exactly(parts, tmp_path):
    """A take runs past its shot (its tail is cut) or falls short after a line edit (its last frame is held):
    each shot still starts on its own frame."""
    import av
    import numpy as np

    board, clips, sound, _ = parts
    a, b, *rest = board.shots
    clips[a.shot.id] = _colour_clip(tmp_path / "red.mp4", "red", a.frames + 7)
    clips[b.shot.id] = _colour_clip(tmp_path / "blue.mp4", "blue", b.frames - 3)
    out = FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, encode=CUT),
                           SkillContext(tmp_path / "cut")).output  # the mark sits in a corner, not mid-frame
    with av.open(out.video) as c:
        rgb = [f.to_ndarray(format="rgb24")[H // 2, W // 2].astype(int) for f in c.decode(video=0)]
    assert len(rgb) == sum(s.frames for s in board.shots)
    red, blue = np.array([255, 0, 0]), np.array([0, 0, 255])
    assert np.abs(rgb[a.frames - 1] - red).max() < 40 and np.abs(rgb[a.frames] - blue).max() < 40
    assert np.abs(rgb[a.frames + b.frames - 1] - blue).max() < 40  # held
    assert np.abs(rgb[a.frames + b.frames] - blue).max() > 100  # the next shot's own picture


def test_a_take_too_short_for_its_shot_is_refused_before_encoding(parts, tmp_path):
    board, clips, sound, _ = parts
    first = board.shots[0]
    clips[first.shot.id] = _colour_clip(tmp_path / "stub.mp4", "red", 1)
    with pytest.raises(InputError, match=f"clips: the clip of shot\\(s\\) {first.shot.id} \\(1 of {first.frames} "
                                         "frames\\) is too short"):
        FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, encode=CUT),
                         SkillContext(tmp_path / "cut"))
    assert not list((tmp_path / "cut").glob("*.mp4"))
