"""The mix: every line at its cue, music under it, mastered to a loudness target, as WAV and AAC."""

import wave

import numpy as np
import pytest

from microdrama.errors import InputError
from microdrama.finishing import measure_loudness
from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.mix_ffmpeg import FfmpegMixer
from microdrama.stages import Loudness, MixInput
from tests.skills.contract import Case, SkillContract


def mix(e, folder, **kw):
    return FfmpegMixer()(MixInput(storyboard=e.board, line_audio=e.audio, **kw), SkillContext(folder)).output


def samples(path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def test_every_line_is_placed_at_its_cue(tiny_episode, tmp_path):
    e = tiny_episode
    sound = mix(e, tmp_path)
    rate, data = samples(sound.wav)
    assert data.size == round(e.board.duration_s * rate) and sound.duration_s == pytest.approx(e.board.duration_s, abs=1e-3)
    for cue in e.board.cues():
        start = round(cue.start_s * rate)
        assert np.abs(data[start:start + rate // 10].astype(int)).max() > 500, f"{cue.line_id} is silent"


def test_the_aac_is_the_same_length_as_the_storyboard(tiny_episode, tmp_path):
    e = tiny_episode
    info = probe(mix(e, tmp_path).aac)
    assert info.audio_streams == 1 and info.audio_codec == "aac" and info.video_streams == 0
    assert info.duration_s == pytest.approx(e.board.duration_s, abs=0.05)


def test_the_mix_is_normalised_for_short_video_platforms(tiny_episode, tmp_path):
    """-14 LUFS integrated and a true peak under -1 dBTP, read by ffmpeg's R128 meter on the encoded AAC; the
    reading the mix reports (taken on the encoder's input) agrees with it."""
    e = tiny_episode
    plain, loud = mix(e, tmp_path / "plain"), mix(e, tmp_path / "loud", loudness=Loudness())
    before, after = measure_loudness(plain.aac), measure_loudness(loud.aac)
    assert abs(after["integrated_lufs"] - -14.0) <= 1.0, after
    assert after["true_peak_dbtp"] <= -1.0, after
    assert abs(before["integrated_lufs"] - -14.0) > 1.0  # the espeak mix alone was not there
    for reported, read_back in ((loud.loudness, after), (plain.loudness, before)):  # the reading travels with it
        assert reported["integrated_lufs"] == pytest.approx(read_back["integrated_lufs"], abs=0.1), (reported, read_back)
        assert reported["true_peak_dbtp"] == pytest.approx(read_back["true_peak_dbtp"], abs=0.5), (reported, read_back)


def test_a_silent_mix_is_encoded_and_reports_no_loudness(tiny_episode, tmp_path):
    from microdrama.speech import write_wav

    e = tiny_episode
    silent = {}
    for line_id in e.audio:
        silent[line_id] = str(tmp_path / f"{line_id}.wav")
        write_wav(tmp_path / f"{line_id}.wav", np.zeros(24000, dtype=np.int16), 24000)
    sound = FfmpegMixer()(MixInput(storyboard=e.board, line_audio=silent), SkillContext(tmp_path / "mix")).output
    assert sound.loudness is None and probe(sound.aac).audio_streams == 1


def test_the_morse_rhythm_opens_the_mix(tiny_episode, tmp_path):
    e = tiny_episode
    rate, plain = samples(mix(e, tmp_path / "plain").wav)
    _, marked = samples(mix(e, tmp_path / "morse", audio_label="morse").wav)
    first = slice(0, int(0.07 * rate))  # the first short beep, before any line starts
    assert np.abs(marked[first].astype(int)).max() > 1000 and np.abs(plain[first].astype(int)).max() < 100


def test_a_missing_line_is_named_and_nothing_is_written(tiny_episode, tmp_path):
    e = tiny_episode
    first = e.board.cues()[0].line_id
    audio = {k: v for k, v in e.audio.items() if k != first}
    with pytest.raises(InputError, match=f"line_audio\\[{first}\\].*run dubbing first"):
        FfmpegMixer()(MixInput(storyboard=e.board, line_audio=audio), SkillContext(tmp_path))
    assert not list(tmp_path.glob("*.wav")) and not list(tmp_path.glob("*.m4a"))


class TestMixContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        e = tiny_episode
        return Case(FfmpegMixer(), MixInput(storyboard=e.board, line_audio=e.audio, audio_label="morse",
                                            loudness=Loudness()).model_dump(mode="json"))
