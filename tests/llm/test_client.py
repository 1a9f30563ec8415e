import json

import pytest
from pydantic import BaseModel

from microdrama.llm.client import ChatClient, LLMError, extract_json

MESSAGES = [{"role": "user", "content": "hi"}]


class Reply(BaseModel):
    answer: str
    n: int


def client(model, provider, tmp_path=None):
    return ChatClient(provider, transcript_dir=tmp_path, sleep=lambda s: None, transport=model.transport)


def test_success_counts_tokens_and_sends_the_key_only_as_a_header(fake_model, provider, tmp_path):
    fake_model.reply('{"answer": "ok", "n": 1}', tokens_in=321, tokens_out=12)
    c = client(fake_model, provider, tmp_path)
    assert json.loads(c.complete(MESSAGES)) == {"answer": "ok", "n": 1}
    assert (c.usage.tokens_in, c.usage.tokens_out, c.usage.calls, c.usage.failed_calls) == (321, 12, 1, 0)
    request = fake_model.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "deepseek-chat"
    assert request["headers"]["Authorization"] == "Bearer sk-test-SECRET-never-in-files"
    assert request["body"]["response_format"] == {"type": "json_object"}
    transcript = "".join(p.read_text() for p in tmp_path.glob("*.json"))
    assert '\\"answer\\"' in transcript and "SECRET" not in transcript


def test_429_then_success_is_retried_over_real_http(loopback_model, loopback_provider):
    """The one test on a real socket: a retried call is billed for both attempts' tokens."""
    loopback_model.fail(429, "rate limited").reply('{"answer": "ok", "n": 2}')
    c = client(loopback_model, loopback_provider)
    assert json.loads(c.complete(MESSAGES))["n"] == 2
    assert (c.usage.calls, c.usage.failed_calls) == (2, 1)


def test_persistent_500_gives_up_with_a_clear_error(fake_model, provider):
    for _ in range(3):
        fake_model.fail(500, "upstream overloaded")
    with pytest.raises(LLMError, match=r"HTTP 500: upstream overloaded \(after 3 attempt\(s\)\)") as exc:
        client(fake_model, provider).complete(MESSAGES)
    assert exc.value.usage.failed_calls == 3 and len(fake_model.requests) == 3


def test_a_client_error_is_not_retried(fake_model, provider):
    fake_model.fail(400, "bad model name")
    with pytest.raises(LLMError, match="HTTP 400"):
        client(fake_model, provider).complete(MESSAGES)
    assert len(fake_model.requests) == 1


def test_timeout_is_retried_then_reported(fake_model, provider):
    slow = provider.model_copy(update={"timeout_s": 0.2, "max_retries": 1})
    fake_model.stall(1.0).stall(1.0)
    with pytest.raises(LLMError, match="timed out after 0.2 s"):
        client(fake_model, slow).complete(MESSAGES)
    assert len(fake_model.requests) == 2


def test_invalid_json_is_repaired_and_every_attempt_is_counted(fake_model, provider):
    fake_model.reply("好的，这是结果：{\"answer\": \"ok\", \"n\": ", tokens_in=100, tokens_out=40)  # truncated
    fake_model.reply('```json\n{"answer": "ok", "n": 3}\n```', tokens_in=150, tokens_out=20)
    c = client(fake_model, provider)
    assert c.structured(MESSAGES, Reply) == Reply(answer="ok", n=3)
    assert (c.usage.tokens_in, c.usage.tokens_out, c.usage.repairs) == (250, 60, 1)
    repair_prompt = fake_model.requests[1]["body"]["messages"][-1]["content"]
    assert "cut off" in repair_prompt and "corrected JSON" in repair_prompt


def test_schema_errors_are_sent_back_and_n_failures_give_up(fake_model, provider):
    for _ in range(3):
        fake_model.reply('{"answer": "ok", "n": "many"}')
    with pytest.raises(LLMError, match="no valid Reply after 3 attempt") as exc:
        client(fake_model, provider).structured(MESSAGES, Reply, max_repairs=2)
    assert "n: Input should be a valid integer" in fake_model.requests[1]["body"]["messages"][-1]["content"]
    assert exc.value.usage.tokens_in == 300


def test_json_extraction_tolerates_prose_fences_and_braces_in_strings():
    assert extract_json('Sure! {"a": "x}y", "b": {"c": 1}} Hope that helps') == {"a": "x}y", "b": {"c": 1}}
    assert extract_json('```\n{"a": "say \\"hi\\""}\n```') == {"a": 'say "hi"'}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("抱歉，我无法完成。")


def test_key_comes_from_the_environment_not_the_config(provider):
    assert "SECRET" not in provider.model_dump_json()
    assert provider.api_key() == "sk-test-SECRET-never-in-files"


@pytest.mark.parametrize("url", ["http://user:sk-live-123@api.example.invalid/v1",
                                 "https://api.example.invalid/v1?api_key=sk-live-123"])
def test_a_key_in_the_url_is_refused_without_echoing_it(url):
    from microdrama.domain import parse_model
    from microdrama.errors import InputError
    from microdrama.llm.provider import ProviderConfig

    with pytest.raises(InputError) as caught:
        parse_model(ProviderConfig, {"base_url": url, "model": "m"})
    assert "must not carry a key" in str(caught.value) and "sk-live-123" not in str(caught.value)


def test_a_provider_sdk_variable_is_used_only_for_that_provider(monkeypatch):
    from microdrama.llm.provider import ProviderConfig

    monkeypatch.delenv("MICRODRAMA_LLM_API_KEY", raising=False)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek")
    assert ProviderConfig(base_url="https://api.deepseek.com/v1", model="deepseek-chat").api_key() == "sk-deepseek"
    assert ProviderConfig(base_url="https://dashscope.aliyuncs.com/compatible-mode/v1", model="qwen-plus").api_key() \
        in (None, "")  # the DeepSeek key is never sent to another provider


def test_a_key_echoed_by_the_server_is_redacted(fake_model, provider, tmp_path):
    fake_model.fail(401, "invalid key sk-test-SECRET-never-in-files")
    with pytest.raises(LLMError) as caught:
        client(fake_model, provider, tmp_path).complete(MESSAGES)
    assert "SECRET" not in str(caught.value) and "***" in str(caught.value)
    assert "SECRET" not in "".join(p.read_text() for p in tmp_path.glob("*.json"))
