"""Structured output per provider capability: json_schema, tools, json_object (and a plain prompt).

Each fake takes only the features named in `supports` and refuses the others with HTTP 400, as
real providers do; auto mode must step down, remember the tier, and keep retries and billing.
"""

import json

import pytest
from pydantic import BaseModel

from microdrama.agents.continuity import ContinuityReport
from microdrama.agents.director import ShotPlan
from microdrama.agents.localizer import Translation
from microdrama.domain import Screenplay, parse_model
from microdrama.errors import InputError
from microdrama.llm.client import ChatClient, LLMError, schema_for
from microdrama.llm.provider import ProviderConfig

MESSAGES = [{"role": "system", "content": "You answer questions."}, {"role": "user", "content": "hi"}]
GOOD = '{"answer": "ok", "n": 1}'


class Reply(BaseModel):
    """One answer and a count."""

    answer: str
    n: int


def client(model, provider, tmp_path=None, **update):
    if update:
        provider = provider.model_copy(update=update)
    return ChatClient(provider, transcript_dir=tmp_path, sleep=lambda s: None, transport=model.transport)


# -- the request each tier sends -------------------------------------------------------------------


def test_json_schema_tier_sends_the_models_schema_in_response_format(fake_model, provider):
    fake_model.reply(GOOD)
    assert client(fake_model, provider, structured_output="json_schema").structured(MESSAGES, Reply).n == 1
    body = fake_model.requests[0]["body"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Reply"
    assert fmt["json_schema"]["schema"]["properties"].keys() == {"answer", "n"}
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert "tools" not in body and body["messages"] == MESSAGES  # no prose shape: the schema says it


def test_tools_tier_forces_one_function_call_and_reads_its_arguments(fake_model, provider):
    fake_model.supports = {"tools"}
    fake_model.reply(GOOD)
    assert client(fake_model, provider, structured_output="tools").structured(MESSAGES, Reply).answer == "ok"
    body = fake_model.requests[0]["body"]
    assert "response_format" not in body and body["messages"] == MESSAGES
    tool = body["tools"][0]
    assert tool["type"] == "function" and tool["function"]["name"] == "Reply"
    assert tool["function"]["description"] == "One answer and a count."
    assert tool["function"]["parameters"]["required"] == ["answer", "n"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Reply"}}


def test_json_object_tier_describes_the_shape_in_the_system_message(fake_model, provider):
    fake_model.reply(GOOD)
    c = client(fake_model, provider, structured_output="json_object")
    c.structured(MESSAGES, Reply, hint="Reply with JSON: {answer, n}")
    body = fake_model.requests[0]["body"]
    assert body["response_format"] == {"type": "json_object"} and "tools" not in body
    assert body["messages"][0]["content"] == "You answer questions.\nReply with JSON: {answer, n}"


def test_without_a_hint_the_json_object_tier_sends_the_schema_as_text(fake_model, provider):
    fake_model.reply(GOOD)
    client(fake_model, provider, structured_output="prompt").structured(MESSAGES, Reply)
    body = fake_model.requests[0]["body"]
    assert "response_format" not in body and "tools" not in body
    assert "JSON Schema" in body["messages"][0]["content"] and '"answer"' in body["messages"][0]["content"]


def test_strict_only_where_the_schema_allows_it():
    schema, strict = schema_for(Reply)
    assert strict and schema["additionalProperties"] is False
    assert schema_for(Screenplay)[1] is False  # optional fields (defaults) are not strict-compatible
    assert schema_for(Translation)[1] is False  # a dict field is an open-ended object
    assert schema_for(ContinuityReport)[1] is False
    assert schema_for(ShotPlan)[1] is False  # visual_prompt's minLength is refused by strict mode
    assert Reply.model_json_schema().get("additionalProperties") is None  # the model's own schema is untouched


def test_an_unknown_tier_is_refused_naming_the_field():
    with pytest.raises(InputError, match="structured_output"):
        parse_model(ProviderConfig, {"base_url": "http://x.invalid/v1", "model": "m", "structured_output": "grammar"})


# -- each tier end to end against a server that takes only that tier -------------------------------


@pytest.mark.parametrize("tier, probes", [("json_schema", []), ("tools", ["json_schema"]),
                                          ("json_object", ["json_schema", "tools"])])
def test_auto_steps_down_to_the_tier_the_server_takes(fake_model, provider, tier, probes):
    fake_model.supports = {tier}
    fake_model.reply(GOOD, tokens_in=100, tokens_out=10)
    c = client(fake_model, provider)
    assert c.structured(MESSAGES, Reply) == Reply(answer="ok", n=1)
    assert fake_model.tiers_sent() == probes + [tier]
    # every refused probe is a failed call, billed nothing
    assert (c.usage.calls, c.usage.failed_calls, c.usage.tokens_in) == (len(probes) + 1, len(probes), 100)
    call = c.structured_calls[0]
    assert (call["tier"], call["attempts"], call["ok"]) == (tier, len(probes) + 1, True)
    assert [f["tier"] for f in call["fallbacks"]] == probes
    assert all("HTTP 400" in f["reason"] for f in call["fallbacks"])


def test_the_working_tier_is_remembered_so_later_calls_skip_the_probes(fake_model, provider):
    fake_model.supports = {"json_object"}
    fake_model.reply(GOOD).reply(GOOD).reply(GOOD)
    first = client(fake_model, provider)
    first.structured(MESSAGES, Reply)
    first.structured(MESSAGES, Reply)
    client(fake_model, provider).structured(MESSAGES, Reply)  # a new client for the same provider
    assert fake_model.tiers_sent() == ["json_schema", "tools", "json_object", "json_object", "json_object"]
    assert [c["attempts"] for c in first.structured_calls] == [3, 1]


def test_a_server_without_json_object_ends_on_a_plain_prompt(fake_model, provider):
    fake_model.supports = set()
    fake_model.reply(GOOD)
    c = client(fake_model, provider)
    assert c.structured(MESSAGES, Reply).n == 1
    assert fake_model.tiers_sent() == ["json_schema", "tools", "json_object", "prompt"]
    assert c.structured_calls[0]["tier"] == "prompt"


def test_a_reply_that_ignores_the_format_steps_down(fake_model, provider):
    """A lenient server accepts the request but answers in prose: that tier is not really supported."""
    fake_model.reply("当然可以！").reply("I cannot call functions.").reply(GOOD)
    c = client(fake_model, provider)
    assert c.structured(MESSAGES, Reply).n == 1
    assert fake_model.tiers_sent() == ["json_schema", "tools", "json_object"]
    assert [f["reason"] for f in c.structured_calls[0]["fallbacks"]] == [
        "the reply ignored the requested json_schema format", "the reply ignored the requested tools format"]
    assert c.usage.calls == 3 and c.usage.tokens_in == 300  # the ignored replies were still billed


def test_a_named_tier_the_server_refuses_fails_saying_how_to_fix_it(fake_model, provider):
    fake_model.supports = {"tools"}
    with pytest.raises(LLMError, match=r"not supported with this model.*set llm.structured_output to 'auto'"):
        client(fake_model, provider, structured_output="json_schema").structured(MESSAGES, Reply)
    assert fake_model.tiers_sent() == ["json_schema"]


def test_a_400_that_is_not_about_the_format_does_not_step_down(fake_model, provider):
    fake_model.fail(400, "Model Not Exist")
    with pytest.raises(LLMError, match="HTTP 400: Model Not Exist"):
        client(fake_model, provider).structured(MESSAGES, Reply)
    assert len(fake_model.requests) == 1


# -- repairs, retries and billing inside a tier ----------------------------------------------------


def test_a_bad_tool_call_is_sent_back_for_repair(fake_model, provider):
    fake_model.supports = {"tools"}
    fake_model.reply('{"answer": "ok", "n": "many"}').reply(GOOD)
    c = client(fake_model, provider, structured_output="tools")
    assert c.structured(MESSAGES, Reply, check=lambda r: None).n == 1
    repair = fake_model.requests[1]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"answer": "ok", "n": "many"}'}
    assert "n: Input should be a valid integer" in repair[-1]["content"] and "Call Reply again" in repair[-1]["content"]
    assert c.structured_calls[0]["repairs"] == 1


def test_check_rules_are_repaired_in_the_schema_tier(fake_model, provider):
    fake_model.supports = {"json_schema"}
    fake_model.reply('{"answer": "ok", "n": 0}').reply(GOOD)

    def positive(r: Reply) -> None:
        if r.n < 1:
            raise ValueError("n must be at least 1")

    assert client(fake_model, provider).structured(MESSAGES, Reply, check=positive).n == 1
    assert "n must be at least 1" in fake_model.requests[1]["body"]["messages"][-1]["content"]
    assert fake_model.tiers_sent() == ["json_schema", "json_schema"]


@pytest.mark.parametrize("server", ["fake_model", "loopback_model"])
def test_429_500_and_a_malformed_reply_are_retried_and_billed_in_the_schema_tier(server, request, monkeypatch):
    from tests.llm.conftest import provider_for

    model = request.getfixturevalue(server)
    model.supports = {"json_schema"}
    model.fail(429, "rate limited").fail(500, "upstream overloaded", tokens_in=30, tokens_out=0)
    model.reply('{"answer": "ok", "n": ', tokens_in=100, tokens_out=40)  # cut off mid-object
    model.reply(GOOD, tokens_in=150, tokens_out=20)
    c = client(model, provider_for(model, monkeypatch))
    assert c.structured(MESSAGES, Reply) == Reply(answer="ok", n=1)
    assert model.tiers_sent() == ["json_schema"] * 4
    u = c.usage
    assert (u.calls, u.failed_calls, u.repairs, u.tokens_in, u.tokens_out) == (4, 2, 1, 280, 60)
    assert c.structured_calls[0] | {"fallbacks": []} == {
        "purpose": "structured", "schema": "Reply", "tier": "json_schema", "strict": True, "ok": True,
        "attempts": 4, "repairs": 1, "fallbacks": []}


def test_a_failed_structured_call_keeps_its_prompts_replies_and_reason(fake_model, provider, tmp_path):
    fake_model.supports = {"json_schema"}
    for _ in range(2):
        fake_model.reply('{"answer": "ok"}', tokens_in=70, tokens_out=7)
    c = client(fake_model, provider, tmp_path)
    with pytest.raises(LLMError, match="no valid Reply after 2 attempt.*json_schema.*n: Field required") as caught:
        c.structured(MESSAGES, Reply, max_repairs=1, purpose="ask")
    assert caught.value.usage.tokens_in == 140
    entries = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    replies = [e for e in entries if "request" in e]
    assert len(replies) == 2 and all(e["tier"] == "json_schema" and e["response"] for e in replies)
    (failure,) = [e for e in entries if "request" not in e]
    assert failure["purpose"] == "ask" and "n: Field required" in failure["error"]
    assert failure["last_reply"] == '{"answer": "ok"}' == c.structured_calls[0]["last_reply"]
    assert c.structured_calls[0]["ok"] is False and "n: Field required" in c.structured_calls[0]["error"]


def test_an_error_payload_is_kept_in_the_transcript(fake_model, provider, tmp_path):
    fake_model.fail(400, "Model Not Exist")
    with pytest.raises(LLMError):
        client(fake_model, provider, tmp_path).structured(MESSAGES, Reply)
    (entry,) = [json.loads(p.read_text()) for p in tmp_path.glob("*-structured-*.json") if "failed" not in p.name]
    assert entry["status"] == 400 and "Model Not Exist" in entry["raw_response"]


def test_the_summary_names_the_provider_tier_and_calls(fake_model, provider, tmp_path):
    fake_model.supports = {"tools"}
    fake_model.reply(GOOD)
    c = client(fake_model, provider)
    c.structured(MESSAGES, Reply, purpose="ask")
    summary = json.loads(c.write_summary(tmp_path / "llm" / "summary.json", length=None).read_text())
    assert summary["provider"] == provider.identity and summary["structured_output"] == "auto"
    assert summary["tier"] == "tools" and summary["calls"][0]["purpose"] == "ask"
    assert summary["usage"]["api_calls"] == 2.0 and summary["usage"]["api_calls_failed"] == 1.0


def test_without_json_mode_auto_skips_json_object(fake_model, provider):
    fake_model.supports = set()
    fake_model.reply(GOOD)
    client(fake_model, provider, json_mode=False).structured(MESSAGES, Reply)
    assert fake_model.tiers_sent() == ["json_schema", "tools", "prompt"]


def test_reply_text_reads_tool_arguments_objects_and_content_parts():
    from microdrama.llm.client import _reply_text

    call = {"tool_calls": [{"function": {"name": "Reply", "arguments": {"answer": "ok", "n": 1}}}]}
    assert json.loads(_reply_text(call)) == {"answer": "ok", "n": 1}
    assert _reply_text({"content": [{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}]}) == '{"a": 1}'
    assert _reply_text({"content": None}) == ""
