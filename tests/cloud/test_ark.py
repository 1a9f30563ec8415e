"""The Ark adapter against a loopback Ark: Seedance tasks end to end, Seedream images, and every failure path."""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from microdrama.cloud import adapter_for
from microdrama.cloud.ark import ArkAdapter
from microdrama.cloud.jobs import CloudError, CloudProvider, JobClient, JobSpec, ModerationError
from microdrama.errors import InputError
from microdrama.media import probe
from tests.cloud.fake_ark import FakeArk
from tests.cloud.fakes import KEY, serve

MODEL = "doubao-seedance-1-0-pro-250528"
VIDEO = JobSpec(kind="video", model=MODEL, prompt="女孩转身看向镜头", duration_s=4, width=720, height=1280, seed=7)
TASKS = "/api/v3/contents/generations/tasks"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("ARK_TEST_KEY", KEY)
    server, _ = serve(fake := FakeArk(tmp_path / "fake-ark"))
    yield fake
    server.shutdown()


@pytest.fixture
def account(fake) -> CloudProvider:
    return CloudProvider(adapter="ark", base_url=fake.url + "/api/v3", api_key_env="ARK_TEST_KEY",
                         poll_interval_s=0, backoff_s=0, requests_per_minute=100000)


def client(account, tmp_path, sleeps=None) -> JobClient:
    return JobClient(account, ArkAdapter(), journal=tmp_path / "journal",
                     sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def posts(fake) -> list[dict]:
    return [s for s in fake.seen if s["method"] == "POST"]


def test_text_to_video_gives_the_documented_vertical_size_and_billing(fake, account, tmp_path):
    out = client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    info = probe(out.files[0])
    assert (info.width, info.height) == (704, 1248)  # 720p 9:16 as documented, not the 720×1280 asked for
    assert info.duration_s == pytest.approx(4, abs=0.1)
    assert out.quantities["api_video_seconds"] == 4
    assert out.quantities["api_video_tokens"] == 704 * 1248 * (24 * 4 + 1) // 1024
    assert out.quantities["api_calls"] == 5  # submit, queued, running, succeeded, download
    assert out.upstream_labels == {"watermark": "false", "provider_label": "Volcengine Ark"}
    assert out.task_id.startswith("cgt-") and fake.submissions == 1 and not out.resumed
    text = fake.requests[0]["content"][0]["text"]
    assert text == ("女孩转身看向镜头 --ratio 9:16 --resolution 720p --duration 4 --watermark false --seed 7 "
                    "--camerafixed false")
    downloads = [s for s in fake.seen if s["path"].startswith("/files/")]
    assert downloads and not any(s["authorised"] for s in downloads)  # the pre-signed URL gets no key


def test_image_to_video_sends_the_first_frame_as_a_data_uri(fake, account, tmp_path):
    frame = tmp_path / "first.png"
    Image.new("RGB", (720, 1280), (200, 40, 40)).save(frame)
    spec = VIDEO.model_copy(update={"image": str(frame)})
    out = client(account, tmp_path).run(spec, tmp_path / "out", "s01")
    image = fake.requests[0]["content"][1]
    assert image["type"] == "image_url" and image["role"] == "first_frame"
    prefix, data = image["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64" and base64.b64decode(data) == frame.read_bytes()
    assert probe(out.files[0]).height == 1248


def test_a_run_that_died_before_the_result_polls_the_same_task(fake, account, tmp_path):
    fake.then("download", 500, {"error": {"code": "InternalServiceError", "message": "TOS hiccup"}})
    once = account.model_copy(update={"max_retries": 0})
    with pytest.raises(CloudError, match="download"):
        client(once, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    record = json.loads((tmp_path / "journal" / "s01.json").read_text())
    assert record["state"] == "submitted" and record["task_id"].startswith("cgt-")
    again = client(once, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert fake.submissions == 1 and again.resumed and again.task_id == record["task_id"]
    assert probe(again.files[0]).duration_s == pytest.approx(4, abs=0.1)


def test_429_with_retry_after_is_waited_out_then_retried(fake, account, tmp_path):
    fake.then("submit", 429, {"error": {"code": "ModelAccountRpmRateLimitExceeded", "message": "slow down"}},
              {"Retry-After": "3"})
    sleeps: list[float] = []
    out = client(account, tmp_path, sleeps).run(VIDEO, tmp_path / "out", "s01")
    assert sleeps[0] == pytest.approx(3, rel=0.21)  # Retry-After with ±20 % jitter
    assert len(posts(fake)) == 2 and fake.submissions == 1
    assert out.quantities["api_calls_failed"] == 1


def test_a_500_once_is_retried(fake, account, tmp_path):
    fake.then("submit", 500, {"error": {"code": "InternalServiceError", "message": "internal error"}})
    out = client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert out.files[0].is_file() and fake.submissions == 1 and out.quantities["api_calls_failed"] == 1


def test_a_wrong_key_names_the_variable_and_is_not_retried(fake, account, tmp_path, monkeypatch):
    monkeypatch.setenv("ARK_TEST_KEY", "ark-wrong-key-123")
    with pytest.raises(CloudError, match="ARK_TEST_KEY") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert "AuthenticationError" in str(caught.value) and "ark-wrong-key-123" not in str(caught.value)
    assert len(fake.seen) == 1


def test_moderation_on_submit_is_a_refusal_with_the_providers_code(fake, account, tmp_path):
    spec = VIDEO.model_copy(update={"prompt": "FORBIDDEN scene"})
    with pytest.raises(ModerationError, match="InputTextSensitiveContentDetected"):
        client(account, tmp_path).run(spec, tmp_path / "out", "s01")
    assert len(posts(fake)) == 1 and fake.submissions == 0


def test_moderation_on_the_task_is_a_refusal_and_not_resubmitted(fake, account, tmp_path):
    fake.next_outcome.append("moderation")
    with pytest.raises(ModerationError, match="OutputVideoSensitiveContentDetected"):
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert fake.submissions == 1 and len(posts(fake)) == 1


def test_an_expired_task_is_an_error(fake, account, tmp_path):
    fake.next_outcome.append("expired")
    with pytest.raises(CloudError, match="expired") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert not isinstance(caught.value, ModerationError)


def test_a_cut_download_fails_and_a_rerun_fetches_it_without_paying_again(fake, account, tmp_path):
    fake.truncate_downloads = account.max_retries + 1  # every attempt of this run is cut off halfway
    with pytest.raises(CloudError, match="download"):
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert not list((tmp_path / "out").glob("s01*"))  # nothing half-written is left behind
    again = client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert again.resumed and fake.submissions == 1
    assert probe(again.files[0]).duration_s == pytest.approx(4, abs=0.1)


def test_the_key_is_in_no_journal_and_no_error_message(fake, account, tmp_path):
    client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    fake.then("submit", 500, {"error": {"code": "InternalServiceError", "message": f"bad header Bearer {KEY}"}})
    once = account.model_copy(update={"max_retries": 0})
    with pytest.raises(CloudError) as caught:
        client(once, tmp_path).run(VIDEO.model_copy(update={"seed": 8}), tmp_path / "out", "s02")
    assert KEY not in str(caught.value) and "***" in str(caught.value)
    journal = list((tmp_path / "journal").rglob("*.json"))
    assert len(journal) == 2 and not any(KEY.encode() in p.read_bytes() for p in journal)


def test_a_seedream_image_is_answered_at_once(fake, account, tmp_path):
    spec = JobSpec(kind="image", model="doubao-seedream-3-0-t2i-250415", prompt="雨夜街头的女孩", width=720,
                   height=1280, seed=3)
    out = client(account, tmp_path).run(spec, tmp_path / "out", "key1")
    assert out.task_id is None and out.quantities["api_images"] == 1 and out.quantities["api_calls"] == 2
    assert out.files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(out.files[0]).size == (720, 1280)
    assert fake.requests[0] == {"model": spec.model, "prompt": spec.prompt, "size": "720x1280",
                                "response_format": "url", "watermark": False, "seed": 3}


def test_a_refused_image_is_a_moderation_error(fake, account, tmp_path):
    fake.next_outcome.append("moderation")
    spec = JobSpec(kind="image", model="doubao-seedream-4-0-250828", prompt="a poster", width=1440, height=2560)
    with pytest.raises(ModerationError, match="OutputImageSensitiveContentDetected"):
        client(account, tmp_path).run(spec, tmp_path / "out", "key1")


# ---- the adapter alone ------------------------------------------------------------------------------


def test_speech_points_to_another_adapter():
    with pytest.raises(InputError, match="dashscope.*openai"):
        ArkAdapter().submit(JobSpec(kind="speech", model="doubao-tts", text="你好"))


def test_sizes_and_durations_are_the_documented_ones():
    ark = ArkAdapter()
    assert ark.video_size(MODEL, 720, 1280) == (704, 1248)
    assert ark.video_size(MODEL, 480, 854) == (480, 864)
    assert ark.video_size(MODEL, 1080, 1920) == (1088, 1920)
    assert ark.video_size(MODEL, 1920, 1080) == (1920, 1088)
    assert ark.video_size(MODEL, 1000, 1000) == (960, 960)
    assert ark.video_durations(MODEL) == tuple(float(s) for s in range(2, 13))
    assert ark.image_size("doubao-seedream-3-0-t2i-250415", 720, 1280) == (720, 1280)  # in range: as asked
    w, h = ark.image_size("doubao-seedream-4-5-251128", 720, 1280)  # 4.5 needs at least 2560×1440 pixels
    assert w * h >= 2560 * 1440 and w / h == pytest.approx(720 / 1280, rel=0.01)
    with pytest.raises(InputError, match="duration_s=4.5"):
        ark.submit(VIDEO.model_copy(update={"duration_s": 4.5}))


def test_a_bad_first_frame_is_refused_before_paying(tmp_path):
    small = tmp_path / "small.png"
    Image.new("RGB", (200, 200)).save(small)
    with pytest.raises(InputError, match="JobSpec.image.*300"):
        ArkAdapter().submit(VIDEO.model_copy(update={"image": str(small)}))
    with pytest.raises(InputError, match="does not exist"):
        ArkAdapter().submit(VIDEO.model_copy(update={"image": str(tmp_path / "none.png")}))


def test_the_registry_finds_the_adapter(account):
    ark = adapter_for(account)
    assert isinstance(ark, ArkAdapter) and ark.checked_on == "2026-11-26" and "82379" in ark.docs
