"""Lines from a speech API: the character's provider voice, emotion as speed, a trimmed mono WAV, characters metered."""

import pytest

from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.dubbing_cloud import CloudDubbing
from microdrama.speech import read_wav
from tests.skills.contract import Case, SkillContract

LINE = {"line_id": "s01-l1", "text": "你回来做什么？", "language": "zh", "emotion": "angry",
        "voice": {"gender": "female", "variant": 2}}


def options(account, **kw):
    return {"provider": account.model_dump(), "model": "cosyvoice-v2",
            "voices": {"female": ["longxiaochun_v2", "longwan_v2"], "male": ["longcheng_v2"]}, **kw}


def test_the_line_is_spoken_with_the_variants_voice_and_metered(dashscope, dashscope_account, tmp_path):
    skill = CloudDubbing()
    result = skill(skill.parse_input(LINE), SkillContext(tmp_path), skill.parse_options(options(dashscope_account)))
    rate, samples = read_wav(result.output.audio)
    assert rate == 24000 and samples.size > 0 and result.output.duration_s == pytest.approx(samples.size / rate)
    assert "longwan_v2" in result.output.voice and result.usage.quantities["tts_characters"] == len(LINE["text"])
    sent = [s for s in dashscope.seen if s["method"] == "POST"]
    assert len(sent) == 1 and dashscope.submissions == 1


def test_a_voice_id_wins_and_a_missing_voice_list_says_what_to_add(dashscope_account):
    skill = CloudDubbing()
    named = skill.parse_input({**LINE, "voice": {"gender": "male", "voice_id": "longanyang"}})
    assert skill.voice_name(named, skill.parse_options(options(dashscope_account))) == "longanyang"
    with pytest.raises(InputError, match="voices.female"):
        skill.check_inputs(skill.parse_input(LINE), skill.parse_options(options(dashscope_account, voices={})))


class TestDubbingCloudContract(SkillContract):
    @pytest.fixture
    def case(self, dashscope, dashscope_account):
        return Case(CloudDubbing(), LINE, options(dashscope_account))


@pytest.mark.parametrize("model,said", [("cosyvoice-v3-flash", "用愤怒、咬牙切齿的语气说"), ("cosyvoice-v2", None)])
def test_the_lines_emotion_is_said_as_an_instruction_where_the_engine_takes_one(dashscope, dashscope_account,
                                                                              tmp_path, model, said):
    skill = CloudDubbing()
    skill(skill.parse_input(LINE), SkillContext(tmp_path), skill.parse_options(options(dashscope_account, model=model)))
    sent = dashscope.requests[-1]["input"]
    assert sent.get("instruction") == said and sent["rate"] > 1.0  # angry: faster as well
