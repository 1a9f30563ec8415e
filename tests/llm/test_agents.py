import pytest

from microdrama.agents.base import AgentDeps
from microdrama.agents.continuity import ContinuityCriticAgent
from microdrama.agents.director import DirectorAgent
from microdrama.agents.localizer import LocalizerAgent, LocalizeTask
from microdrama.agents.screenwriter import ScreenwriterAgent
from microdrama.domain import Brief, Screenplay
from microdrama.llm.client import ChatClient, LLMError
from tests.llm.fake_agents import respond, screenplay_without_hook

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
    report = ContinuityCriticAgent().run(deps(fake_model, provider), [parse_model(Screenplay, screenplay_data), ep2])
    kinds = [i.kind for i in report.issues]
    assert kinds == ["look", "prop"]


def test_an_agent_that_never_gets_valid_output_fails_clearly(fake_model, provider):
    for _ in range(8):
        fake_model.reply("我不能用 JSON 回答。")
    with pytest.raises(LLMError, match="gave no valid Screenplay"):
        ScreenwriterAgent().run(deps(fake_model, provider), BRIEF)


def test_every_agent_declares_its_rd_project():
    for agent in (ScreenwriterAgent, DirectorAgent, LocalizerAgent, ContinuityCriticAgent):
        assert agent.project_code.startswith("RD-AGENT-") and agent.version
