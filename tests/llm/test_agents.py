import json

import pytest

from microdrama.agents.base import AgentDeps
from microdrama.agents.continuity import ContinuityCriticAgent
from microdrama.agents.director import DirectorAgent
from microdrama.agents.localizer import LocalizerAgent, LocalizeTask
from microdrama.agents.screenwriter import ScreenwriterAgent
from microdrama.domain import Brief, Screenplay
from microdrama.llm.client import ChatClient, LLMError
from tests.conftest import TINY_SCREENPLAY
from tests.llm.fake_agents import respond, screenplay_lasting, screenplay_without_hook, seconds_of

BRIEF = Brief(title="测试短剧", premise="被赶出家门的千金归来", genre="revenge", target_seconds=30)


def deps(model, provider, tmp_path=None):
    """Agents get their model in process: the fake answers through an httpx.MockTransport."""
    return AgentDeps(ChatClient(provider, transcript_dir=tmp_path, sleep=lambda s: None, transport=model.transport))


def test_screenwriter_drafts_then_critiques(fake_model, provider):
    fake_model.responder = respond
    d = deps(fake_model, provider)
    screenplay = ScreenwriterAgent().run(d, BRIEF)
    assert isinstance(screenplay, Screenplay) and screenplay.spoken_lines()
    purposes = [r["body"]["messages"][-1]["content"][:9] for r in fake_model.requests]
    assert len(fake_model.requests) == 2 and purposes[1] == "Critique "
    assert "HOOK" in fake_model.requests[0]["body"]["messages"][0]["content"]
    assert d.client.usage.tokens_in == 240


def test_a_draft_far_too_short_goes_back_once_with_its_measured_length(fake_model, provider):
    tiny = json.dumps(TINY_SCREENPLAY, ensure_ascii=False)  # about 9 s for a 30 s brief
    fake_model.reply(tiny).reply(tiny)  # draft and critique
    fake_model.responder = respond  # the revision: about 30 s
    writer = ScreenwriterAgent()
    screenplay = writer.run(deps(fake_model, provider), BRIEF)
    assert len(fake_model.requests) == 3
    revise = fake_model.requests[2]["body"]["messages"][-1]["content"]
    draft_s, final_s = seconds_of(TINY_SCREENPLAY), seconds_of(screenplay_lasting(30))
    assert revise.startswith(f"Your draft runs about {draft_s:.0f} s when spoken; the target is 30 s (±15%)")
    assert "add shots or lines" in revise
    assert len(screenplay.spoken_lines()) > 4
    figures = writer.length.as_dict()
    assert figures == {"target_s": 30, "draft_s": round(draft_s, 1), "final_s": round(final_s, 1), "rounds": 1,
                       "tolerance": 0.15, "revision_error": None, "within": True}


def test_a_draft_too_long_is_asked_to_lose_shots_and_kept_even_if_still_long(fake_model, provider):
    long = screenplay_lasting(60)
    fake_model.reply(json.dumps(long, ensure_ascii=False)).reply(json.dumps(long, ensure_ascii=False))
    fake_model.reply(json.dumps(long, ensure_ascii=False))
    writer = ScreenwriterAgent()
    writer.run(deps(fake_model, provider), BRIEF)
    assert len(fake_model.requests) == 3  # one round only
    assert "remove shots or shorten lines" in fake_model.requests[2]["body"]["messages"][-1]["content"]
    assert (writer.length.rounds, writer.length.within) == (1, False)
    assert writer.length.final_s == pytest.approx(seconds_of(long))


def test_a_draft_within_tolerance_gets_no_length_round(fake_model, provider):
    near = screenplay_lasting(30)
    target = round(seconds_of(near) * 1.12)  # the draft is about 11% short
    fake_model.reply(json.dumps(near, ensure_ascii=False)).reply(json.dumps(near, ensure_ascii=False))
    writer = ScreenwriterAgent()
    writer.run(deps(fake_model, provider), BRIEF.model_copy(update={"target_seconds": target}))
    assert len(fake_model.requests) == 2 and writer.length.rounds == 0
    assert writer.length.final_s == pytest.approx(seconds_of(near)) and writer.length.within


def test_a_failed_length_round_keeps_the_critiqued_draft(fake_model, provider):
    tiny = json.dumps(TINY_SCREENPLAY, ensure_ascii=False)
    fake_model.reply(tiny).reply(tiny)
    for _ in range(4):
        fake_model.reply("好的，我来修改。")
    writer = ScreenwriterAgent()
    d = deps(fake_model, provider)
    screenplay = writer.run(d, BRIEF)
    assert screenplay == Screenplay.model_validate(TINY_SCREENPLAY)
    assert "gave no valid Screenplay" in writer.length.revision_error
    assert writer.length.final_s == pytest.approx(seconds_of(TINY_SCREENPLAY))
    assert d.client.usage.calls == 6  # the failed round is still billed


def test_schema_tiers_send_the_schema_and_only_json_object_the_prose_shape(fake_model, provider):
    fake_model.supports = {"json_object"}
    fake_model.responder = respond
    ScreenwriterAgent().run(deps(fake_model, provider), BRIEF)
    first, second = fake_model.requests[0]["body"], fake_model.requests[2]["body"]
    assert first["response_format"]["type"] == "json_schema"
    assert "Reply with one JSON object of this shape" not in first["messages"][0]["content"]
    assert second["response_format"] == {"type": "json_object"}
    assert "Reply with one JSON object of this shape" in second["messages"][0]["content"]


def test_a_draft_without_a_hook_is_sent_back_for_repair(fake_model, provider):
    fake_model.reply(screenplay_without_hook())
    fake_model.responder = respond
    ScreenwriterAgent().run(deps(fake_model, provider), BRIEF)
    repair = fake_model.requests[1]["body"]["messages"][-1]["content"]
    assert "first shot must carry a spoken hook line" in repair


def test_director_plans_every_shot(fake_model, provider, screenplay):
    fake_model.responder = respond
    directed = DirectorAgent().run(deps(fake_model, provider), screenplay)
    assert {shot.camera_move.value for _, shot in directed.shots()} == {"push_in"}
    assert [ln.text for ln in directed.spoken_lines()] == [ln.text for ln in screenplay.spoken_lines()]


def test_localizer_translates_within_timing(fake_model, provider, screenplay):
    fake_model.responder = respond
    english = LocalizerAgent().run(deps(fake_model, provider), LocalizeTask(screenplay, "en"))
    assert english.series.language == "en" and english.series.title == "The Return"
    assert all(ln.text == "Get out!" for ln in english.spoken_lines())
    assert english.series.character("lin").name == "Lin Xia"


def test_a_translation_the_screenplay_refuses_is_repaired_not_a_crash(fake_model, provider, screenplay):
    broken = {ln.id: "Get out!" for ln in screenplay.spoken_lines()} | {"s01-l1": "Get\nout!"}
    fake_model.reply(json.dumps({"title": "T", "episode_title": "E", "logline": "L", "names": {}, "lines": broken}))
    fake_model.responder = respond
    english = LocalizerAgent().run(deps(fake_model, provider), LocalizeTask(screenplay, "en"))
    assert english.spoken_lines()[0].text == "Get out!"
    assert "control characters" in fake_model.requests[1]["body"]["messages"][-1]["content"]


def test_localizer_asks_to_shorten_lines_that_do_not_fit(fake_model, provider, screenplay):
    long = "You have no idea how long I have waited to say these words to your face, Mr. Zhao, so listen."
    fake_model.reply('{"title": "T", "episode_title": "E", "logline": "L", "names": {}, "lines": {'
                     + ", ".join(f'"{ln.id}": "{long}"' for ln in screenplay.spoken_lines()) + "}}")
    fake_model.responder = respond
    LocalizerAgent().run(deps(fake_model, provider), LocalizeTask(screenplay, "en"))
    assert "too long to say in their time" in fake_model.requests[1]["body"]["messages"][-1]["content"]


def test_continuity_merges_rule_and_model_findings(fake_model, provider, screenplay_data):
    from microdrama.domain import parse_model

    fake_model.responder = respond
    ep2 = parse_model(Screenplay, {**screenplay_data, "episode": {**screenplay_data["episode"], "number": 2}})
    ep2.series.characters[0].look = "红色长裙"
    issues = ContinuityCriticAgent().run(deps(fake_model, provider), [parse_model(Screenplay, screenplay_data), ep2])
    found = [(i.kind, i.found_by) for i in issues]
    assert found[0] == ("look", "rules") and found[-1] == ("prop", provider.identity)  # rules first, then the model
    assert {kind for kind, _ in found[1:-1]} == {"repeat"}  # episode 2 here is a copy of episode 1's lines


def test_an_agent_that_never_gets_valid_output_fails_clearly(fake_model, provider):
    for _ in range(8):
        fake_model.reply("我不能用 JSON 回答。")
    with pytest.raises(LLMError, match="gave no valid Screenplay"):
        ScreenwriterAgent().run(deps(fake_model, provider), BRIEF)


def test_every_agent_declares_its_rd_project():
    for agent in (ScreenwriterAgent, DirectorAgent, LocalizerAgent, ContinuityCriticAgent):
        assert agent.project_code.startswith("RD-AGENT-") and agent.version


def test_a_series_episode_is_asked_to_open_on_the_last_cliffhanger(fake_model, provider):
    from microdrama.domain import Previously

    fake_model.responder = respond
    brief = BRIEF.model_copy(update={"episode": 2, "previously": Previously(episode=1, cliffhanger="谁在门外？")})
    ScreenwriterAgent().run(deps(fake_model, provider), brief)
    system, user = (m["content"] for m in fake_model.requests[0]["body"]["messages"])
    assert "open where that episode stopped" in system and "谁在门外？" in user
