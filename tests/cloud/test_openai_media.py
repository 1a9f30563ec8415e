"""The OpenAI-compatible adapter through the real job client against a loopback fake: pictures, speech,
videos, refusals, retries, and a resumed run that pays once."""

from __future__ import annotations

import base64
import json
import wave

import pytest
from PIL import Image

from microdrama.cloud import adapter_for
from microdrama.cloud.jobs import CloudError, CloudProvider, JobClient, JobSpec, ModerationError
from microdrama.cloud.openai_media import OpenAIMediaAdapter
from microdrama.errors import InputError
from microdrama.media import probe
from tests.cloud.fake_openai import REFUSAL, FakeOpenAI, parse_multipart
from tests.cloud.fakes import KEY, serve

IMAGE = JobSpec(kind="image", model="gpt-image-1", prompt="a woman in a white shirt, vertical poster",
                width=720, height=1280)
SPEECH = JobSpec(kind="speech", model="gpt-4o-mini-tts", text="I am back.", voice="coral",
                 extra={"instructions": "Speak coldly."})
VIDEO = JobSpec(kind="video", model="sora-2", prompt="she turns to the camera", duration_s=4, width=720, height=1280)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    fake = FakeOpenAI(tmp_path / "fake-openai")
    server, _ = serve(fake)
    monkeypatch.setenv("OPENAI_TEST_KEY", KEY)
    yield fake
    server.shutdown()


def account(fake: FakeOpenAI, **kw) -> CloudProvider:
    return CloudProvider(adapter="openai", base_url=fake.url + "/v1", api_key_env="OPENAI_TEST_KEY",
                         poll_interval_s=0, backoff_s=0, requests_per_minute=100000, **kw)


def client(fake, tmp_path, sleeps=None, **kw) -> JobClient:
    return JobClient(account(fake, **kw), OpenAIMediaAdapter(), journal=tmp_path / "journal",
                     sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def requests_to(fake, method: str, tail: str) -> list[dict]:
    return [r for r in fake.seen if r["method"] == method and r["path"].split("?")[0].endswith(tail)]


# -- pictures -------------------------------------------------------------------------------------


def test_a_gpt_image_comes_back_inline_at_the_nearest_portrait_size(fake, tmp_path):
    out = client(fake, tmp_path).run(IMAGE, tmp_path / "out", "poster")
    with Image.open(out.files[0]) as img:
        assert img.format == "PNG" and img.size == (1024, 1536)  # 720x1280 -> the documented portrait size
    request = fake.tasks["task-0001"].request
    assert request == {"model": "gpt-image-1", "prompt": IMAGE.prompt, "n": 1, "size": "1024x1536"}
    assert out.quantities["api_images"] == 1
    assert (out.quantities["tokens_in"], out.quantities["tokens_out"]) == (50, 6208)
    assert out.quantities["api_calls"] == 1 and fake.submissions == 1


def test_a_dalle_url_is_fetched_without_the_key(fake, tmp_path):
    spec = IMAGE.model_copy(update={"model": "dall-e-3"})
    out = client(fake, tmp_path).run(spec, tmp_path / "out", "poster")
    with Image.open(out.files[0]) as img:
        assert img.size == (1024, 1792)
    downloads = [r for r in fake.seen if r["path"].startswith("/files/")]
    assert len(downloads) == 1 and downloads[0]["authorised"] is False  # a pre-signed link never sees the key
    assert out.quantities["api_images"] == 1 and "tokens_out" not in out.quantities


def test_a_refused_picture_is_a_moderation_error_sent_once(fake, tmp_path):
    fake.next_outcome.append("moderation")
    with pytest.raises(ModerationError, match="safety system") as caught:
        client(fake, tmp_path, max_retries=3).run(IMAGE, tmp_path / "out", "poster")
    assert REFUSAL in str(caught.value) and "moderation_blocked" in str(caught.value)
    assert fake.submissions == 1 and len(requests_to(fake, "POST", "/images/generations")) == 1
    assert caught.value.quantities["api_calls"] == 1


def test_429_with_retry_after_waits_as_asked(fake, tmp_path):
    fake.then("submit", 429, {"error": {"message": "Rate limit reached for gpt-image-1", "type": "requests",
                                          "param": None, "code": "rate_limit_exceeded"}}, {"Retry-After": "2"})
    sleeps: list[float] = []
    out = client(fake, tmp_path, sleeps).run(IMAGE, tmp_path / "out", "poster")
    assert len(sleeps) == 1 and 1.5 <= sleeps[0] <= 2.5
    assert out.quantities["api_calls"] == 2 and out.quantities["api_calls_failed"] == 1
    assert fake.submissions == 1 and out.files[0].is_file()


# -- speech ---------------------------------------------------------------------------------------


def test_speech_is_a_wav_in_the_answer_body(fake, tmp_path):
    out = client(fake, tmp_path).run(SPEECH, tmp_path / "out", "line1")
    with wave.open(str(out.files[0])) as w:
        assert w.getnchannels() == 1 and w.getframerate() == 24000 and w.getnframes() > 0
    assert out.quantities["tts_characters"] == len(SPEECH.text)
    assert fake.tasks["task-0001"].request == {"model": "gpt-4o-mini-tts", "input": "I am back.", "voice": "coral",
                                                 "response_format": "wav", "speed": 1.0,
                                                 "instructions": "Speak coldly."}


def test_speech_needs_words(fake, tmp_path):
    with pytest.raises(InputError, match="JobSpec.text"):
        OpenAIMediaAdapter().submit(SPEECH.model_copy(update={"text": " "}))


# -- videos ---------------------------------------------------------------------------------------


def test_a_video_is_created_polled_and_its_content_fetched_with_the_key(fake, tmp_path):
    out = client(fake, tmp_path).run(VIDEO, tmp_path / "out", "shot1")
    info = probe(out.files[0])
    assert info.duration_s == pytest.approx(4, abs=0.1) and (info.width, info.height) == (720, 1280)
    assert out.task_id == "video_task-0001" and not out.resumed
    assert out.quantities["api_video_seconds"] == 4
    assert out.quantities["api_calls"] == 4  # create, in_progress, completed, content
    content = requests_to(fake, "GET", f"/v1/videos/{out.task_id}/content")
    assert len(content) == 1 and content[0]["authorised"] is True
    assert fake.tasks[out.task_id].request["seconds"] == "4"
    record = json.loads((tmp_path / "journal" / "shot1.json").read_text())
    assert record["state"] == "done" and record["task_id"] == out.task_id


def test_a_first_frame_is_uploaded_as_input_reference(fake, tmp_path):
    frame = tmp_path / "first.png"
    Image.new("RGB", (720, 1280), (200, 30, 30)).save(frame)
    spec = VIDEO.model_copy(update={"image": str(frame), "duration_s": 8.0})
    out = client(fake, tmp_path).run(spec, tmp_path / "out", "shot1")
    assert fake.uploads[out.task_id] == frame.read_bytes()
    assert fake.tasks[out.task_id].request["seconds"] == "8"
    assert probe(out.files[0]).duration_s == pytest.approx(8, abs=0.1)


def test_a_refused_video_is_a_moderation_error(fake, tmp_path):
    fake.next_outcome.append("moderation")
    with pytest.raises(ModerationError, match="moderation_blocked"):
        client(fake, tmp_path).run(VIDEO, tmp_path / "out", "shot1")
    assert fake.submissions == 1


def test_a_failed_video_says_why(fake, tmp_path):
    fake.next_outcome.append("failed")
    with pytest.raises(CloudError, match="video_generation_failed: Video generation failed") as caught:
        client(fake, tmp_path).run(VIDEO, tmp_path / "out", "shot1")
    assert not isinstance(caught.value, ModerationError)


def test_a_500_while_polling_is_retried(fake, tmp_path):
    fake.then("poll", 500, {"error": {"message": "The server had an error", "type": "server_error",
                                        "param": None, "code": None}})
    out = client(fake, tmp_path).run(VIDEO, tmp_path / "out", "shot1")
    assert out.files[0].is_file() and out.quantities["api_calls_failed"] == 1 and fake.submissions == 1


def test_a_run_that_died_at_download_resumes_the_same_video(fake, tmp_path):
    fake.then("download", 500)
    with pytest.raises(CloudError, match="download"):
        client(fake, tmp_path, max_retries=0).run(VIDEO, tmp_path / "out", "shot1")
    again = client(fake, tmp_path, max_retries=0).run(VIDEO, tmp_path / "out", "shot1")
    assert again.resumed and again.task_id == "video_task-0001" and fake.submissions == 1
    assert probe(again.files[0]).duration_s == pytest.approx(4, abs=0.1)


# -- the key --------------------------------------------------------------------------------------


def test_the_key_is_in_no_journal_and_no_error(fake, tmp_path):
    client(fake, tmp_path).run(VIDEO, tmp_path / "out", "shot1")
    fake.then("submit", 500, {"error": {"message": f"upstream saw Authorization: Bearer {KEY}",
                                          "type": "server_error", "param": None, "code": None}})
    with pytest.raises(CloudError) as caught:
        client(fake, tmp_path, max_retries=0).run(IMAGE, tmp_path / "out", "poster")
    assert KEY not in str(caught.value) and "***" in str(caught.value)
    journal = list((tmp_path / "journal").iterdir())
    assert journal and all(KEY not in f.read_text() for f in journal)


def test_a_wrong_key_is_not_retried(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-wrong")
    with pytest.raises(CloudError, match="OPENAI_TEST_KEY") as caught:
        client(fake, tmp_path, max_retries=3).run(IMAGE, tmp_path / "out", "poster")
    assert "invalid_api_key" in str(caught.value) and caught.value.quantities["api_calls"] == 1


# -- the adapter alone ----------------------------------------------------------------------------


def test_the_adapter_is_found_by_name(fake):
    assert isinstance(adapter_for(account(fake)), OpenAIMediaAdapter)


def test_sizes_and_durations_follow_the_documented_sets():
    a = OpenAIMediaAdapter()
    assert a.video_durations("sora-2") == (4.0, 8.0, 12.0)
    assert a.video_size("sora-2", 1080, 1920) == (720, 1280)
    assert a.video_size("sora-2", 1920, 1080) == (1280, 720)
    assert a.video_size("sora-2-pro", 1024, 1792) == (1024, 1792)
    assert a.video_size("sora-2", 1024, 1792) == (720, 1280)  # sora-2 itself makes 720p only
    assert a.image_size("gpt-image-1", 720, 1280) == (1024, 1536)
    assert a.image_size("gpt-image-1", 1000, 1000) == (1024, 1024)
    assert a.image_size("dall-e-3", 720, 1280) == (1024, 1792)
    assert a.image_size("gpt-image-2", 1080, 1920) == (1088, 1920)
    assert a.image_size("some-vendor-model", 720, 1280) == (720, 1280)


def test_a_duration_outside_4_8_12_is_refused_before_paying():
    with pytest.raises(InputError, match=r"JobSpec.duration_s=5.*video_durations"):
        OpenAIMediaAdapter().submit(VIDEO.model_copy(update={"duration_s": 5.0}))


def test_a_reference_image_for_a_picture_is_refused_clearly(tmp_path):
    with pytest.raises(InputError, match="JobSpec.image"):
        OpenAIMediaAdapter().submit(IMAGE.model_copy(update={"image": str(tmp_path / "ref.png")}))


def test_the_key_goes_only_to_the_api_host():
    a = OpenAIMediaAdapter()
    assert "X-Microdrama-No-Auth" not in a.download("/videos/video_1/content").headers
    assert a.download("https://files.example.com/img.png?sig=x").headers["X-Microdrama-No-Auth"] == "1"


def test_the_video_create_is_multipart_with_string_seconds():
    import httpx

    call = OpenAIMediaAdapter().submit(VIDEO)
    request = httpx.Request(call.method, "http://x/v1/videos", files=call.files, data=call.data)
    form = parse_multipart(request.headers["content-type"], request.read())
    assert {k: v.decode() for k, (_, v) in form.items()} == {"model": "sora-2", "prompt": VIDEO.prompt,
                                                             "seconds": "4", "size": "720x1280"}


def test_errors_and_refusals_are_read_from_the_documented_envelope():
    a = OpenAIMediaAdapter()
    body = {"error": {"message": REFUSAL, "type": "image_generation_user_error", "param": None,
                      "code": "moderation_blocked"}}
    assert a.error_of(body) == ("moderation_blocked", REFUSAL)
    assert a.error_of({"error": {"message": "slow down", "type": "requests", "code": None}}) == ("requests",
                                                                                                "slow down")
    assert a.is_moderation("content_policy_violation", "x") and a.is_moderation(None, "code moderation_blocked")
    assert not a.is_moderation("rate_limit_exceeded", "Rate limit reached")
    state = a.status({"id": "video_1", "status": "failed", "error": {"code": "moderation_blocked", "message": "no"}})
    assert state.state == "failed" and state.moderation
    assert a.status({"id": "video_1", "status": "queued"}).state == "pending"
    assert a.status({"id": "video_1", "status": "in_progress"}).state == "running"
    done = a.status({"id": "video_1", "status": "completed", "seconds": "8"})
    assert done.media == ["/videos/video_1/content"] and done.billed == {"api_video_seconds": 8.0}
    png = base64.b64encode(b"not really a png").decode()
    answer = a._image_answer({"data": [{"b64_json": png}]})
    assert answer.media == [f"data:image/png;base64,{png}"] and answer.billed == {"api_images": 1.0}


def test_a_prompt_is_required_before_paying():
    with pytest.raises(InputError, match="JobSpec.prompt"):
        OpenAIMediaAdapter().submit(VIDEO.model_copy(update={"prompt": "  "}))
