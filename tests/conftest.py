"""Shared fixtures. Prefect keeps its state in a per-session temp folder, never in ~/.prefect."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_prefect_home = tempfile.mkdtemp(prefix="microdrama-prefect-")
os.environ["PREFECT_HOME"] = _prefect_home
os.environ.setdefault("MICRODRAMA_CACHE", tempfile.mkdtemp(prefix="microdrama-cache-"))  # not the user's ~/.cache
from microdrama.env import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

import pytest  # noqa: E402

from microdrama.domain import Screenplay, parse_model  # noqa: E402

TINY_SCREENPLAY = {
    "series": {
        "title": "测试短剧",
        "logline": "一个关于测试的故事",
        "genre": "revenge",
        "language": "zh",
        "characters": [
            {"id": "lin", "name": "林夏", "role": "protagonist", "look": "白衬衫",
             "voice": {"gender": "female", "variant": 1, "pitch": 60}},
            {"id": "zhao", "name": "赵总", "role": "antagonist", "look": "黑西装",
             "voice": {"gender": "male", "variant": 3, "pitch": 40}},
        ],
    },
    "episode": {
        "number": 1,
        "title": "归来",
        "hook": "开场即冲突",
        "cliffhanger": "一条短信",
        "scenes": [
            {"id": "sc1", "location": "宴会厅", "time_of_day": "night", "shots": [
                {"id": "s01", "shot_size": "close_up", "camera_move": "push_in", "visual_prompt": "林夏特写",
                 "characters": ["lin"], "lines": [{"speaker": "zhao", "text": "把她赶出去！", "emotion": "angry"}]},
                {"id": "s02", "shot_size": "medium", "camera_move": "pan_right", "visual_prompt": "两人对峙",
                 "characters": ["lin", "zhao"], "lines": [
                     {"speaker": "lin", "text": "我回来了。", "emotion": "cold"},
                     {"speaker": "zhao", "text": "不可能！", "emotion": "surprised"}]},
                {"id": "s03", "shot_size": "extreme_close_up", "visual_prompt": "手机屏幕亮起",
                 "min_duration_s": 1.5, "lines": [{"speaker": "narrator", "text": "手机亮了。"}]},
            ]},
        ],
    },
}


def fresh_postgres(url: str, name: str, tables: tuple[str, ...]) -> str:
    """A database of its own for one group of tests and one test process (pytest-xdist runs two, each with its
    own), emptied of `tables`: the ledger and library tests never drop each other's tables."""
    from sqlalchemy import create_engine

    db = f"microdrama_{name}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if not conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'").first():
            conn.exec_driver_sql(f"CREATE DATABASE {db}")
    server.dispose()
    own = url.rsplit("/", 1)[0] + f"/{db}"
    engine = create_engine(own)
    with engine.begin() as conn:
        for table in tables:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    engine.dispose()
    return own


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for every test that runs a flow (each start costs ~15 s on 2 cores)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def screenplay() -> Screenplay:
    return parse_model(Screenplay, TINY_SCREENPLAY)


@pytest.fixture
def screenplay_data() -> dict:
    import copy

    return copy.deepcopy(TINY_SCREENPLAY)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


# ---- a loopback model-API provider (tests/cloud/fake_dashscope.py), for every test that needs one ----------


@pytest.fixture
def dashscope(tmp_path_factory, monkeypatch):
    from tests.cloud.fake_dashscope import FakeDashScope
    from tests.cloud.fakes import KEY, serve

    fake = FakeDashScope(tmp_path_factory.mktemp("fake-dashscope"))  # the provider's disk is not the test's
    server, _ = serve(fake)
    monkeypatch.setenv("DASHSCOPE_TEST_KEY", KEY)
    yield fake
    server.shutdown()


@pytest.fixture
def dashscope_account(dashscope):
    from microdrama.cloud.jobs import CloudProvider

    return CloudProvider(adapter="dashscope", base_url=f"{dashscope.url}/api/v1", api_key_env="DASHSCOPE_TEST_KEY",
                         poll_interval_s=0, backoff_s=0, max_retries=2,
                         requests_per_minute=100000)


# ---- headless Chromium (Debian's package) through Playwright, for the browser tests -------------------------

CHROMIUM = os.environ.get("MICRODRAMA_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (Playwright's event loop is not left running under other tests). Skipped where the Debian package is absent, except under
    `.ci/run` (MICRODRAMA_REQUIRE_BROWSER=1), where a missing browser is a failure."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("MICRODRAMA_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()
