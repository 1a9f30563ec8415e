"""The Kling adapter against a loopback Kling: JWT-signed tasks end to end, and every failure path."""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from microdrama.cloud import adapter_for
from microdrama.cloud.jobs import CloudError, CloudProvider, JobClient, JobSpec, ModerationError
from microdrama.cloud.kling import KlingAdapter, jwt_token
from microdrama.errors import InputError
from microdrama.media import probe
from tests.cloud.fake_kling import SECRET, FakeKling
from tests.cloud.fakes import KEY, serve

MODEL = "kling-v2-5-turbo"
VIDEO = JobSpec(kind="video", model=MODEL, prompt="女孩转身看向镜头", duration_s=5, width=720, height=1280, seed=7)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("KLING_TEST_AK", KEY)
    monkeypatch.setenv("KLING_TEST_SK", SECRET)
    server, _ = serve(fake := FakeKling(tmp_path / "fake-kling"))
    yield fake
    server.shutdown()


@pytest.fixture
def account(fake) -> CloudProvider:
    return CloudProvider(adapter="kling", base_url=fake.url, api_key_env="KLING_TEST_AK",
                         secret_key_env="KLING_TEST_SK", poll_interval_s=0, backoff_s=0, max_retries=2,
                         requests_per_minute=100000)


def client(account, tmp_path, sleeps=None) -> JobClient:
    return JobClient(account, KlingAdapter(), journal=tmp_path / "journal",
                     sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def posts(fake) -> list[dict]:
    return [s for s in fake.seen if s["method"] == "POST"]


def test_text_to_video_is_signed_polled_and_downloaded(fake, account, tmp_path):
    out = client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    info = probe(out.files[0])
    assert (info.width, info.height) == (720, 1280) and info.duration_s == pytest.approx(5, abs=0.1)
    assert fake.requests[0] == {"model_name": MODEL, "prompt": VIDEO.prompt, "duration": "5", "mode": "std",
                                "aspect_ratio": "9:16"}  # no seed: Kling documents none
    assert out.task_id.startswith("text2video:") and fake.submissions == 1 and not out.resumed
    assert out.quantities["api_video_seconds"] == 5 and out.quantities["kling_units"] == 1.5
    assert out.quantities["api_calls"] == 5  # submit, submitted, processing, succeed, download
    assert out.upstream_labels["provider_label"] == "Kling AI"
    assert len(fake.tokens) == 4 and all(t["iss"] == KEY and t["exp"] - t["nbf"] == 1805 for t in fake.tokens)
    downloads = [s for s in fake.seen if s["path"].startswith("/files/")]
    assert downloads and not any(s["authorised"] for s in downloads)  # the result URL gets no token


def test_a_1080p_shot_asks_for_pro_mode(fake, account, tmp_path):
    spec = VIDEO.model_copy(update={"width": 1080, "height": 1920})
    out = client(account, tmp_path).run(spec, tmp_path / "out", "s01")
    assert fake.requests[0]["mode"] == "pro"
    assert (probe(out.files[0]).width, probe(out.files[0]).height) == (1080, 1920)
    assert out.quantities["kling_units"] == 2.5


def test_image_to_video_sends_bare_base64_and_polls_its_own_endpoint(fake, account, tmp_path):
    frame = tmp_path / "first.png"
    Image.new("RGB", (720, 1280), (200, 40, 40)).save(frame)
    out = client(account, tmp_path).run(VIDEO.model_copy(update={"image": str(frame)}), tmp_path / "out", "s01")
    request = fake.requests[0]
    assert base64.b64decode(request["image"]) == frame.read_bytes() and "aspect_ratio" not in request
    assert out.task_id.startswith("image2video:")
    assert any(s["path"].startswith("/v1/videos/image2video/") for s in fake.seen)


def test_a_run_that_died_before_the_result_polls_the_same_task(fake, account, tmp_path):
    fake.then("download", 500, {"code": 5000, "message": "cdn hiccup"})
    once = account.model_copy(update={"max_retries": 0})
    with pytest.raises(CloudError, match="download"):
        client(once, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    record = json.loads((tmp_path / "journal" / "s01.json").read_text())
    assert record["state"] == "submitted" and record["task_id"].startswith("text2video:")
    again = client(once, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert fake.submissions == 1 and again.resumed and again.task_id == record["task_id"]


def test_429_with_retry_after_is_waited_out_then_retried(fake, account, tmp_path):
    fake.then("submit", 429, {"code": 1303, "message": "parallel task over resource pack limit"},
              {"Retry-After": "3"})
    sleeps: list[float] = []
    out = client(account, tmp_path, sleeps).run(VIDEO, tmp_path / "out", "s01")
    assert sleeps[0] == pytest.approx(3, rel=0.21)
    assert len(posts(fake)) == 2 and fake.submissions == 1 and out.quantities["api_calls_failed"] == 1


def test_an_account_out_of_credit_is_not_retried(fake, account, tmp_path):
    fake.then("submit", 429, {"code": 1102, "message": "resource pack exhausted"})
    with pytest.raises(CloudError, match="1102.*resource pack") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert caught.value.refused and len(posts(fake)) == 1
    assert not (tmp_path / "journal" / "s01.json").exists()  # nothing was created: a rerun submits afresh


def test_a_wrong_secret_names_the_variable_and_is_not_retried(fake, account, tmp_path, monkeypatch):
    monkeypatch.setenv("KLING_TEST_SK", "wrong-secret-123")
    with pytest.raises(CloudError, match="KLING_TEST_AK") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert "1002" in str(caught.value) and "wrong-secret-123" not in str(caught.value)
    assert len(fake.seen) == 1


def test_a_missing_secret_is_refused_before_any_request(fake, account, tmp_path, monkeypatch):
    monkeypatch.delenv("KLING_TEST_SK")
    with pytest.raises(InputError, match="KLING_TEST_SK"):
        account.api_key()  # what the run checks before it starts
    with pytest.raises(InputError, match="secret_key_env"):
        account.model_copy(update={"secret_key_env": None}).secret_key()


def test_moderation_on_submit_is_a_refusal_with_the_providers_code(fake, account, tmp_path):
    with pytest.raises(ModerationError, match="1301"):
        client(account, tmp_path).run(VIDEO.model_copy(update={"prompt": "FORBIDDEN scene"}), tmp_path / "out", "s")
    assert len(posts(fake)) == 1 and fake.submissions == 0


def test_moderation_on_the_task_is_a_refusal_and_not_resubmitted(fake, account, tmp_path):
    fake.next_outcome.append("moderation")
    with pytest.raises(ModerationError, match="risk control"):
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert fake.submissions == 1 and len(posts(fake)) == 1


def test_a_failed_task_is_an_error_not_a_refusal(fake, account, tmp_path):
    fake.next_outcome.append("failed")
    with pytest.raises(CloudError, match="internal error") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert not isinstance(caught.value, ModerationError)


def test_the_keys_are_in_no_file_and_no_message(fake, account, tmp_path):
    client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    fake.then("submit", 500, {"code": 5000, "message": f"echo {KEY} {SECRET}"})
    once = account.model_copy(update={"max_retries": 0})
    with pytest.raises(CloudError) as caught:
        client(once, tmp_path).run(VIDEO.model_copy(update={"prompt": "another"}), tmp_path / "out", "s02")
    assert KEY not in str(caught.value) and SECRET not in str(caught.value) and "***" in str(caught.value)
    for path in tmp_path.rglob("*"):
        if path.is_file() and "fake-kling" not in path.parts:
            assert KEY.encode() not in path.read_bytes() and SECRET.encode() not in path.read_bytes(), path


# ---- the adapter alone ------------------------------------------------------------------------------


def test_the_token_is_a_standard_hs256_jwt():
    import hashlib
    import hmac

    token = jwt_token("ak", "sk", now=1_000_000)
    head, claims, signature = token.split(".")
    pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))  # noqa: E731
    assert json.loads(pad(head)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(pad(claims)) == {"iss": "ak", "exp": 1_001_800, "nbf": 999_995}
    assert pad(signature) == hmac.new(b"sk", f"{head}.{claims}".encode(), hashlib.sha256).digest()


def test_sizes_durations_and_refusals_before_paying(tmp_path):
    kling = KlingAdapter()
    assert kling.video_size(MODEL, 720, 1280) == (720, 1280)
    assert kling.video_size(MODEL, 1080, 1920) == (1080, 1920)
    assert kling.video_size("kling-v2-master", 1080, 1920) == (720, 1280)  # one size only
    assert kling.video_size(MODEL, 1920, 1080) == (1920, 1080)
    assert kling.video_durations(MODEL) == (5.0, 10.0)
    assert kling.video_durations("kling-v3") == tuple(float(s) for s in range(3, 16))
    assert "mode" not in kling.submit(VIDEO.model_copy(update={"model": "kling-v2-master"})).json
    with pytest.raises(InputError, match="duration_s=6"):
        kling.submit(VIDEO.model_copy(update={"duration_s": 6}))
    with pytest.raises(InputError, match="extra sets mode"):
        kling.submit(VIDEO.model_copy(update={"extra": {"mode": "pro"}}))
    with pytest.raises(InputError, match="video only"):
        kling.submit(JobSpec(kind="image", model="kling-v2", prompt="a poster"))
    small = tmp_path / "small.png"
    Image.new("RGB", (200, 200)).save(small)
    with pytest.raises(InputError, match="300 px"):
        kling.submit(VIDEO.model_copy(update={"image": str(small)}))


def test_the_registry_finds_the_adapter(account):
    kling = adapter_for(account)
    assert isinstance(kling, KlingAdapter) and kling.checked_on == "2026-11-27" and "klingai.com" in kling.docs
