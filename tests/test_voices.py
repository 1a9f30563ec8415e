"""The cast: no two characters sound alike, a character keeps their voice across a series, cloning needs consent."""

from datetime import date, timedelta

import pytest

from microdrama.domain import Screenplay, Voice, parse_model
from microdrama.errors import InputError
from microdrama.voices import cast_voices, lock_voices, sounds_like
from tests.conftest import TINY_SCREENPLAY


def screenplay_with(*voices: dict) -> Screenplay:
    import copy

    data = copy.deepcopy(TINY_SCREENPLAY)
    for character, voice in zip(data["series"]["characters"], voices):
        character["voice"] = voice
    return parse_model(Screenplay, data)


def test_two_characters_who_sound_alike_are_told_apart_and_told_so():
    sp = screenplay_with({"gender": "male", "variant": 3, "pitch": 40}, {"gender": "male", "variant": 3, "pitch": 44})
    cast, notes = cast_voices(sp)
    lin, zhao = (c.voice for c in cast.series.characters)
    assert not sounds_like(lin, zhao) and lin == sp.series.characters[0].voice
    assert notes and "zhao" in notes[0]


def test_a_character_sounding_like_the_narrator_is_moved():
    narrator = Voice(gender="male", variant=2, pitch=42)
    sp = screenplay_with({"gender": "female"}, {"gender": "male", "variant": 2, "pitch": 45})
    cast, _ = cast_voices(sp, narrator=narrator)
    assert not sounds_like(cast.series.characters[1].voice, narrator)


def test_distinct_voices_are_left_alone():
    sp = screenplay_with({"gender": "female", "variant": 1}, {"gender": "male", "variant": 3})
    cast, notes = cast_voices(sp)
    assert cast == sp and notes == []


def test_a_series_keeps_every_characters_voice_across_episodes(tmp_path):
    bank = tmp_path / "series" / "voices.json"
    first = screenplay_with({"gender": "female", "variant": 1, "pitch": 60}, {"gender": "male", "variant": 3})
    cast1, _ = lock_voices(bank, first)
    second = screenplay_with({"gender": "female", "variant": 4, "pitch": 30}, {"gender": "male", "variant": 3})
    cast2, notes = lock_voices(bank, second)  # episode 2's writer gave lin another voice
    assert cast2.series.characters[0].voice == cast1.series.characters[0].voice
    assert any("keeps the voice from earlier episodes" in n for n in notes)
    third, _ = lock_voices(bank, screenplay_with({"gender": "female", "variant": 2}, {"gender": "male", "variant": 6}))
    assert [c.voice for c in third.series.characters] == [c.voice for c in cast1.series.characters]


def test_a_cloned_voice_without_consent_is_refused():
    with pytest.raises(InputError, match="needs the speaker's consent"):
        screenplay_with({"gender": "female", "reference_clip": "clips/lin.wav"}, {"gender": "male"})
    expired = {"speaker": "李女士", "scope": "series 测试短剧", "expires": str(date.today() - timedelta(days=1)),
               "evidence_sha256": "a" * 64}
    with pytest.raises(InputError, match="expired"):
        screenplay_with({"gender": "female", "reference_clip": "clips/lin.wav", "consent": expired},
                        {"gender": "male"})
    valid = {**expired, "expires": str(date.today() + timedelta(days=365))}
    sp = screenplay_with({"gender": "female", "reference_clip": "clips/lin.wav", "consent": valid}, {"gender": "male"})
    assert sp.series.characters[0].voice.consent.speaker == "李女士"


def test_a_character_can_name_its_own_dubbing_engine(tmp_path):
    from microdrama.config import ProjectConfig
    from microdrama.run import Run

    sp = screenplay_with({"gender": "female", "engine": "dubbing-piper"}, {"gender": "male"})
    run = Run(ProjectConfig.model_validate({"ledger": {"enabled": False}}), tmp_path, "ep", 1, echo=lambda m: None)
    with pytest.raises(InputError, match="Use stages.dubbing: dubbing-espeak"):  # piper's voice is English
        run.dub(sp.line("s02-l1"), sp)
    assert run.dub(sp.line("s01-l1"), sp).voice.startswith("cmn+m")  # zhao: the configured espeak-ng
    wrong = screenplay_with({"gender": "female", "engine": "animatic"}, {"gender": "male"})
    with pytest.raises(InputError, match="'animatic' is a visuals skill"):
        run.dub(wrong.line("s02-l1"), wrong)


def test_two_characters_given_the_same_neural_voice_id_are_refused():
    same = {"gender": "female", "engine": "dubbing-kokoro", "voice_id": "zf_xiaobei"}
    with pytest.raises(InputError, match="voice_id 'zf_xiaobei' is given to two speakers"):
        cast_voices(screenplay_with(same, {**same, "gender": "male", "variant": 2}))


def test_different_neural_voice_ids_are_different_voices():
    a = Voice(gender="female", engine="dubbing-kokoro", voice_id="zf_xiaobei")
    assert not sounds_like(a, a.model_copy(update={"voice_id": "zf_xiaoni"})) and sounds_like(a, a)


def test_speakers_left_on_espeak_are_named_with_the_way_to_a_neural_voice():
    from microdrama.voices import fallback_note

    sp = screenplay_with({"gender": "female", "engine": "dubbing-piper"}, {"gender": "male", "variant": 2})
    note = fallback_note(sp, "dubbing-espeak", Voice(gender="male", engine="dubbing-piper"))
    assert note.startswith(sp.series.characters[1].name + " speak with espeak-ng") and "dubbing-kokoro" in note
    everyone_neural = screenplay_with({"gender": "female"}, {"gender": "male", "variant": 2})
    assert fallback_note(everyone_neural, "dubbing-piper", Voice(gender="male")) is None


def test_the_cast_record_names_each_voice_and_the_consent_behind_a_clone():
    from microdrama.voices import cast_record, describe_cast

    consent = {"speaker": "李女士", "scope": "series 测试短剧", "expires": str(date.today() + timedelta(days=30)),
               "evidence_sha256": "b" * 64}
    sp = screenplay_with({"gender": "female", "reference_clip": "clips/lin.wav", "consent": consent,
                          "engine": "dubbing-cosyvoice"}, {"gender": "male", "voice_id": "zm_yunjian",
                                                           "engine": "dubbing-kokoro"})
    record = cast_record(sp, "dubbing-espeak", Voice(gender="male", variant=5))
    assert [e["speaker"] for e in record] == [c.id for c in sp.series.characters] + ["narrator"]
    assert record[0]["consent"]["speaker"] == "李女士" and record[0]["cloned_from"] == "clips/lin.wav"
    assert record[1]["voice_id"] == "zm_yunjian" and record[2]["engine"] == "dubbing-espeak"
    text = describe_cast(record)
    assert "with the consent of 李女士" in text and "dubbing-kokoro (zm_yunjian)" in text
