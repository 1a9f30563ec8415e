"""Assembling finished shots into the episode: picture copied, dialogue mixed (fast, 144x256)."""

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
    return AssembleInput(storyboard=e.board, segments=e.segments, line_audio=e.audio, width=W, height=H, **kw)


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


def test_the_dialogue_mix_places_every_line_at_its_cue(tiny_episode, tmp_path):
    import wave

    import numpy as np

    e = tiny_episode
    cut = FfmpegAssembler()(assemble_input(e), SkillContext(tmp_path)).output
    with wave.open(cut.dialogue_wav) as w:
        rate = w.getframerate()
        mix = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert mix.size == round(e.board.duration_s * rate)
    for cue in e.board.cues():
        start = round(cue.start_s * rate)
        assert np.abs(mix[start:start + rate // 10].astype(int)).max() > 500, f"{cue.line_id} is silent"


def test_a_missing_segment_is_named_and_nothing_is_written(tiny_episode, tmp_path):
    e = tiny_episode
    segments = {k: v for k, v in e.segments.items() if k != "s02"}
    with pytest.raises(InputError, match="s02"):
        FfmpegAssembler()(assemble_input(e).model_copy(update={"segments": segments}), SkillContext(tmp_path))
    assert not list(tmp_path.glob("*.mp4"))


class TestAssembleContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        return Case(FfmpegAssembler(), assemble_input(tiny_episode, audio_label="morse").model_dump(mode="json"))


def test_a_cut_shorter_than_the_storyboard_never_gets_its_name(tiny_episode, tmp_path):
    e = tiny_episode
    short = {k: e.segments["s03"] for k in e.segments}  # every shot given the shortest segment
    with pytest.raises(RenderError, match="storyboard says"):
        FfmpegAssembler()(assemble_input(e).model_copy(update={"segments": short}), SkillContext(tmp_path))
    assert not list(tmp_path.glob("*.mp4"))


def test_the_mix_is_normalised_for_short_video_platforms(tiny_episode, tmp_path):
    """-14 LUFS integrated and a true peak under -1 dBTP, measured on the encoded cut by ffmpeg's R128 meter."""
    from microdrama.finishing import measure_loudness
    from microdrama.stages import Loudness

    e = tiny_episode
    plain = FfmpegAssembler()(assemble_input(e), SkillContext(tmp_path / "plain")).output
    loud = FfmpegAssembler()(assemble_input(e, loudness=Loudness()), SkillContext(tmp_path / "loud")).output
    before, after = measure_loudness(plain.video), measure_loudness(loud.video)
    assert abs(after["integrated_lufs"] - -14.0) <= 1.0, after
    assert after["true_peak_dbtp"] <= -1.0, after
    assert abs(before["integrated_lufs"] - -14.0) > 1.0  # the espeak mix alone was not there
    assert probe(loud.video).duration_s == pytest.approx(e.board.duration_s, abs=0.1)
