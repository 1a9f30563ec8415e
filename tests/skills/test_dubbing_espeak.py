import wave

import numpy as np
import pytest

from microdrama.domain import Emotion, Voice
from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.dubbing_espeak import EspeakDubbing, voice_name
from microdrama.stages import DubbingInput
from tests.skills.contract import Case, SkillContract


def dub(tmp_path, text="我回来了，拿回属于我的东西。", language="zh", **voice):
    v = Voice(**{"gender": "female", **voice})
    return EspeakDubbing()(DubbingInput(line_id="s01-l1", text=text, language=language, voice=v), SkillContext(tmp_path))


def read(path):
    with wave.open(path) as w:
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def test_writes_a_wav_with_its_measured_duration(tmp_path):
    result = dub(tmp_path)
    rate, samples = read(result.output.audio)
    assert result.output.duration_s == pytest.approx(samples.size / rate)
    assert 1.0 < result.output.duration_s < 10
    assert np.abs(samples).max() > 1000, "audible speech, not silence"
    assert result.usage.quantities["tts_characters"] == len("我回来了，拿回属于我的东西。")


def test_english_line(tmp_path):
    result = dub(tmp_path, text="I came back to take what is mine.", language="en", gender="male")
    assert result.output.voice.startswith("en-us+m")
    assert result.output.duration_s > 1.0


def test_distinct_characters_get_distinct_voices(tmp_path):
    a = dub(tmp_path / "a", gender="female", variant=1, pitch=60)
    b = dub(tmp_path / "b", gender="male", variant=3, pitch=35)
    assert a.output.voice != b.output.voice
    _, sa = read(a.output.audio)
    _, sb = read(b.output.audio)
    # Different voices: the zero-crossing rate (a pitch proxy) differs clearly.
    zcr = lambda s: np.mean(np.abs(np.diff(np.sign(s.astype(np.int32))))) / 2
    assert abs(zcr(sa) - zcr(sb)) > 0.005


def test_voice_names_follow_language_and_gender():
    assert voice_name("zh", Voice(gender="female", variant=3)) == "cmn+f3"
    assert voice_name("en", Voice(gender="male", variant=7)) == "en-us+m7"


def test_emotion_changes_delivery(tmp_path):
    calm = EspeakDubbing()(DubbingInput(line_id="a", text="不可能，这绝对不可能！", language="zh",
                                        voice=Voice(gender="male")), SkillContext(tmp_path))
    sad = EspeakDubbing()(DubbingInput(line_id="b", text="不可能，这绝对不可能！", language="zh",
                                       voice=Voice(gender="male"), emotion=Emotion.sad), SkillContext(tmp_path))
    assert sad.output.duration_s > calm.output.duration_s  # sad is slower


def test_nothing_to_speak_is_rejected(tmp_path):
    with pytest.raises(InputError, match="nothing to speak"):
        dub(tmp_path, text="……！")


def test_the_same_line_sounds_the_same_whatever_was_said_before(tmp_path):
    """Content-addressed caching and crash-resume rely on byte-identical re-runs."""
    first = dub(tmp_path / "a").output.audio
    dub(tmp_path / "b", text="完全不同的一句话，先说这句。", gender="male", variant=3)
    again = dub(tmp_path / "c").output.audio
    assert open(first, "rb").read() == open(again, "rb").read()


class TestEspeakContract(SkillContract):
    @pytest.fixture
    def case(self):
        return Case(EspeakDubbing(), {"line_id": "s01-l1", "text": "把她赶出去！", "language": "zh",
                                      "voice": {"gender": "female", "variant": 2}, "emotion": "angry"})
