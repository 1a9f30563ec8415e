"""The MiniMax adapter against a loopback MiniMax: create → query → retrieve → download, and the failures."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from microdrama.cloud import adapter_for
from microdrama.cloud.jobs import CloudError, CloudProvider, JobClient, JobSpec, ModerationError
from microdrama.cloud.minimax import MiniMaxAdapter
from microdrama.errors import InputError
from microdrama.media import probe
from tests.cloud.fake_minimax import FakeMiniMax
from tests.cloud.fakes import KEY, serve

MODEL = "MiniMax-Hailuo-2.3"
VIDEO = JobSpec(kind="video", model=MODEL, prompt="女孩转身看向镜头", duration_s=6, width=720, height=1280, seed=7)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIMAX_TEST_KEY", KEY)
    server, _ = serve(fake := FakeMiniMax(tmp_path / "fake-minimax"))
    yield fake
    server.shutdown()


@pytest.fixture
def account(fake) -> CloudProvider:
    return CloudProvider(adapter="minimax", base_url=fake.url + "/v1", api_key_env="MINIMAX_TEST_KEY",
                         poll_interval_s=0, backoff_s=0, max_retries=2, requests_per_minute=100000)


def client(account, tmp_path, sleeps=None) -> JobClient:
    return JobClient(account, MiniMaxAdapter(), journal=tmp_path / "journal",
                     sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def kinds(out) -> list[str]:
    return [a["kind"] for a in out.attempts]


def test_text_to_video_is_created_queried_retrieved_and_downloaded(fake, account, tmp_path):
    out = client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    info = probe(out.files[0])
    assert (info.width, info.height) == (1366, 768)  # the v1 API takes no aspect ratio: 16:9, cropped later
    assert info.duration_s == pytest.approx(6, abs=0.1)
    assert fake.requests[0] == {"model": MODEL, "prompt": VIDEO.prompt, "duration": 6, "resolution": "768P",
                                "prompt_optimizer": False}
    assert out.quantities["api_video_seconds"] == 6  # billed as asked: the answers report no usage
    assert kinds(out) == ["submit", "poll", "poll", "poll", "retrieve", "download"]
    assert out.quantities["api_calls"] == 6 and fake.submissions == 1
    assert out.upstream_labels["provider_label"] == "MiniMax Hailuo"
    downloads = [s for s in fake.seen if s["path"].startswith("/files/")]
    assert downloads and not any(s["authorised"] for s in downloads)


def test_image_to_video_follows_the_first_frame(fake, account, tmp_path):
    frame = tmp_path / "first.png"
    Image.new("RGB", (720, 1280), (200, 40, 40)).save(frame)
    spec = VIDEO.model_copy(update={"image": str(frame), "model": "MiniMax-Hailuo-2.3-Fast"})
    out = client(account, tmp_path).run(spec, tmp_path / "out", "s01")
    assert fake.requests[0]["first_frame_image"].startswith("data:image/png;base64,")
    assert (probe(out.files[0]).width, probe(out.files[0]).height) == (768, 1366)


def test_a_rerun_after_a_failed_download_retrieves_a_fresh_url_and_pays_once(fake, account, tmp_path):
    fake.then("download", 500, "oss hiccup")
    once = account.model_copy(update={"max_retries": 0})
    with pytest.raises(CloudError, match="download"):
        client(once, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    record = json.loads((tmp_path / "journal" / "s01.json").read_text())
    assert record["state"] == "submitted"
    again = client(once, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert again.resumed and fake.submissions == 1 and again.task_id == record["task_id"]
    assert kinds(again).count("retrieve") == 2 and kinds(again).count("submit") == 1  # both runs' attempts


def test_a_rate_limit_in_base_resp_is_retried(fake, account, tmp_path):
    fake.then("submit", 200, {"base_resp": {"status_code": 1002, "status_msg": "rate limit exceeded"}})
    fake.then("poll", 200, {"base_resp": {"status_code": 1002, "status_msg": "rate limit exceeded"}},
              {"Retry-After": "4"})
    sleeps: list[float] = []
    out = client(account, tmp_path, sleeps).run(VIDEO, tmp_path / "out", "s01")
    assert fake.submissions == 1 and out.quantities["api_calls_failed"] == 2
    assert any(s == pytest.approx(4, rel=0.21) for s in sleeps)
    assert [a["outcome"] for a in out.attempts][:2] == ["retry", "ok"]


def test_an_empty_balance_is_not_retried(fake, account, tmp_path):
    fake.then("submit", 200, {"base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}})
    with pytest.raises(CloudError, match="1008.*top up") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert caught.value.refused and len([s for s in fake.seen if s["method"] == "POST"]) == 1


def test_a_wrong_key_names_the_variable_and_is_not_retried(fake, account, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIMAX_TEST_KEY", "sk-wrong-999")
    with pytest.raises(CloudError, match="MINIMAX_TEST_KEY") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    assert "1004" in str(caught.value) and "sk-wrong-999" not in str(caught.value) and len(fake.seen) == 1


def test_refusals_for_content_at_submit_and_on_the_task(fake, account, tmp_path):
    with pytest.raises(ModerationError, match="1026"):
        client(account, tmp_path).run(VIDEO.model_copy(update={"prompt": "FORBIDDEN"}), tmp_path / "out", "s01")
    assert fake.submissions == 0
    fake.next_outcome.append("moderation")
    with pytest.raises(ModerationError, match="1027"):
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s02")
    fake.next_outcome.append("failed")
    with pytest.raises(CloudError, match="unknown error") as caught:
        client(account, tmp_path).run(VIDEO, tmp_path / "out", "s03")
    assert not isinstance(caught.value, ModerationError) and fake.submissions == 2


def test_the_key_is_in_no_file_the_client_writes(fake, account, tmp_path):
    client(account, tmp_path).run(VIDEO, tmp_path / "out", "s01")
    for path in tmp_path.rglob("*"):
        if path.is_file() and "fake-minimax" not in path.parts:
            assert KEY.encode() not in path.read_bytes(), path


# ---- the adapter alone ------------------------------------------------------------------------------


def test_sizes_durations_and_refusals_before_paying():
    mm = MiniMaxAdapter()
    assert mm.video_size(MODEL, 720, 1280) == (768, 1366)
    assert mm.video_size(MODEL, 1080, 1920) == (1080, 1920)
    assert mm.video_size("MiniMax-Hailuo-02", 480, 854) == (512, 912)
    assert mm.video_durations(MODEL) == (6.0, 10.0)
    assert mm.submit(VIDEO.model_copy(update={"width": 480, "height": 854,
                                             "model": "MiniMax-Hailuo-02"})).json["resolution"] == "768P"
    with pytest.raises(InputError, match="1080P takes 6 s"):
        mm.submit(VIDEO.model_copy(update={"width": 1080, "height": 1920, "duration_s": 10}))
    with pytest.raises(InputError, match="image-to-video only"):
        mm.submit(VIDEO.model_copy(update={"model": "MiniMax-Hailuo-2.3-Fast"}))
    with pytest.raises(InputError, match="video only"):
        mm.submit(JobSpec(kind="speech", model="speech-02-hd", text="你好"))


def test_the_registry_finds_the_adapter(account):
    mm = adapter_for(account)
    assert isinstance(mm, MiniMaxAdapter) and mm.checked_on == "2026-11-27" and "minimaxi.com" in mm.docs
