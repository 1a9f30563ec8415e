"""The plain-Python run machinery: configuration choices and checks made before a run writes anything."""

import pytest

from microdrama.config import ProjectConfig
from microdrama.errors import InputError, UnknownSkillError
from microdrama.run import check_stages, configure, opening_text, used_stages


def test_an_llm_server_in_the_environment_writes_the_screenplay_and_says_so():
    env = {"MICRODRAMA_LLM_BASE_URL": "http://127.0.0.1:9/v1", "MICRODRAMA_LLM_MODEL": "qwen-plus"}
    config, notes = configure(ProjectConfig(), environ=env)
    assert config.stages.screenplay == "screenplay-llm" and config.llm.model == "qwen-plus"
    assert notes == [f"writer: screenplay-llm agents on {config.llm.identity}"]


def test_without_an_llm_server_the_offline_writer_stays():
    config, notes = configure(ProjectConfig(), environ={})
    assert config.stages.screenplay == "screenplay-rules" and config.llm is None and notes == []


def test_a_server_in_the_config_wins_over_the_environment():
    env = {"MICRODRAMA_LLM_BASE_URL": "http://127.0.0.1:9/v1", "MICRODRAMA_LLM_MODEL": "qwen-plus"}
    chosen = ProjectConfig.model_validate({"llm": {"base_url": "http://127.0.0.1:8/v1", "model": "deepseek-chat"}})
    config, _ = configure(chosen, environ=env)
    assert config.llm.model == "deepseek-chat" and config.stages.screenplay == "screenplay-llm"


def test_visual_must_be_animatic_or_video():
    with pytest.raises(InputError, match="--visual must be 'animatic' or 'video'"):
        configure(ProjectConfig(), visual="film", environ={})


def test_a_skill_of_the_wrong_stage_is_named_with_the_choices():
    config = ProjectConfig.model_validate({"stages": {"visuals": "dubbing-espeak"}})
    with pytest.raises(InputError, match=r"stages.visuals: skill 'dubbing-espeak' is a dubbing skill.*animatic"):
        check_stages(config)


def test_options_are_checked_against_the_skill_before_a_run():
    with pytest.raises(InputError, match=r"options.screenplay-llm[\s\S]*direct_shot: unknown key; did you mean"):
        check_stages(ProjectConfig.model_validate({"options": {"screenplay-llm": {"direct_shot": False}}}))
    with pytest.raises(UnknownSkillError, match="Did you mean: animatic"):
        check_stages(ProjectConfig.model_validate({"options": {"animatik": {}}}))
    check_stages(ProjectConfig.model_validate({"options": {"video-diffusers": {"steps": 8}}}))


def test_the_render_mode_decides_which_finishing_stages_run():
    assert "compose" not in used_stages(ProjectConfig()) and {"finish", "assemble"} <= set(used_stages(ProjectConfig()))
    single = ProjectConfig.model_validate({"render": {"mode": "single-pass"}})
    assert "compose" in used_stages(single) and "finish" not in used_stages(single)


def test_the_opening_card_shows_the_filing_number_in_the_episode_language():
    config = ProjectConfig.model_validate({"filing": {"licence_number": "沪网微剧备2026001"}})
    assert opening_text(config, "zh") == "备案号：沪网微剧备2026001"
    assert opening_text(config, "en") == "Filing No. 沪网微剧备2026001"
    assert opening_text(ProjectConfig(), "zh") is None


def test_a_model_api_account_without_its_key_is_refused_before_the_run(monkeypatch):
    from microdrama.config import ProjectConfig
    from microdrama.domain import parse_model
    from microdrama.errors import InputError
    from microdrama.run import check_stages

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    config = parse_model(ProjectConfig, {
        "project_code": "RD-K", "stages": {"visuals": "video-cloud"},
        "cloud": {"ali": {"adapter": "dashscope", "base_url": "https://dashscope.aliyuncs.com/api/v1",
                          "api_key_env": "NO_SUCH_KEY_VAR"}},
        "options": {"video-cloud": {"account": "ali", "model": "wan2.2-t2v-plus"}}})
    with pytest.raises(InputError, match="set the environment variable NO_SUCH_KEY_VAR"):
        check_stages(config)
    check_stages(config, keys=False)  # pricing needs no key


def test_the_take_log_says_how_a_take_fits_its_shot():
    from microdrama.run import take_fit

    assert take_fit(300, 286, 30) == "last 0.47 s cut"
    assert take_fit(270, 286, 30) == "last frame held 0.53 s"
    assert take_fit(270, 270, 30) == "exact"
