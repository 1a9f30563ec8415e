"""Assembling finished shots into the episode: picture and sound copied (fast, 144x256)."""

import av
import pytest

from microdrama.errors import InputError, RenderError
from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.assemble_ffmpeg import FfmpegAssembler
from microdrama.stages import AssembleInput
from tests.skills.conftest import H, W
from tests.skills.contract import Case, SkillContract


def assemble_input(e, **kw) -> AssembleInput:
    return AssembleInput(storyboard=e.board, segments=e.segments, sound=e.sound, width=W, height=H, **kw)


def packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def test_the_cut_is_the_segments_joined_without_re_encoding(tiny_episode, tmp_path):
    e = tiny_episode
    cut = FfmpegAssembler()(assemble_input(e), SkillContext(tmp_path)).output
    info = probe(cut.video)
    assert (info.width, info.height) == (W, H) and info.audio_streams == 1 and info.audio_codec == "aac"
    assert cut.frames == sum(s.frames for s in e.board.shots)
    assert info.duration_s == pytest.approx(e.board.duration_s, abs=0.1)
    joined, starts = [], set()
    for ts in e.board.shots:
        starts.add(len(joined))
        joined += packets(e.segments[ts.shot.id])
    copied = packets(cut.video)
    assert len(copied) == len(joined)
    # Stream copy: the very packets of the finished shots (the muxer may repeat parameter sets in
    # each segment's first keyframe; a re-encode would change every packet).
    assert [i for i, (a, b) in enumerate(zip(copied, joined)) if a != b and i not in starts] == []


def test_the_sound_is_the_mix_copied_not_encoded_again(tiny_episode, tmp_path):
    e = tiny_episode
    cut = FfmpegAssembler()(assemble_input(e), SkillContext(tmp_path)).output
    with av.open(e.sound.aac) as mixed, av.open(cut.video) as joined:
        want = [bytes(p) for p in mixed.demux(audio=0) if p.size]
        got = [bytes(p) for p in joined.demux(audio=0) if p.size]
    assert got and got == want[:len(got)] and len(want) - len(got) <= 1
    assert cut.dialogue_wav == e.sound.wav


def test_a_missing_mix_is_named_and_nothing_is_written(tiny_episode, tmp_path):
    e = tiny_episode
    gone = e.sound.model_copy(update={"aac": str(tmp_path / "gone.m4a")})
    with pytest.raises(InputError, match="sound.aac.*run the mix stage"):
        FfmpegAssembler()(assemble_input(e).model_copy(update={"sound": gone}), SkillContext(tmp_path / "cut"))
    assert not list((tmp_path / "cut").glob("*.mp4"))


def test_a_missing_segment_is_named_and_nothing_is_written(tiny_episode, tmp_path):
    e = tiny_episode
    segments = {k: v for k, v in e.segments.items() if k != "s02"}
    with pytest.raises(InputError, match="s02"):
        FfmpegAssembler()(assemble_input(e).model_copy(update={"segments": segments}), SkillContext(tmp_path))
    assert not list(tmp_path.glob("*.mp4"))


class TestAssembleContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        return Case(FfmpegAssembler(), assemble_input(tiny_episode).model_dump(mode="json"))


def test_a_cut_shorter_than_the_storyboard_never_gets_its_name(tiny_episode, tmp_path):
    e = tiny_episode
    short = {k: e.segments["s03"] for k in e.segments}  # every shot given the shortest segment
    with pytest.raises(RenderError, match="storyboard says"):
        FfmpegAssembler()(assemble_input(e).model_copy(update={"segments": short}), SkillContext(tmp_path))
    assert not list(tmp_path.glob("*.mp4"))
