"""A tiny rendered episode and a studio over it, shared by the studio's API and browser tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig

TINY = {"project_code": "RD-STUDIO", "render": {"width": 270, "height": 480, "fps": 5},
        "subtitles": {"font_size": 18}, "qa": {"dub_qa": "off"}}


@pytest.fixture(scope="package")
def prefect(prefect_harness):
    return None


@pytest.fixture(scope="package")
def rendered_once(prefect, tmp_path_factory) -> Path:
    """One render of the tiny screenplay (module-wide); each test gets its own copy of the out folder."""
    from microdrama.pipelines.episode import episode_flow
    from tests.conftest import TINY_SCREENPLAY

    root = tmp_path_factory.mktemp("studio-src")
    source = root / "tiny.yaml"
    source.write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    episode_flow(source=source, config=ProjectConfig.model_validate(TINY), out_dir=root / "out", run_name="ep1")
    return root / "out"


@pytest.fixture
def out(rendered_once, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(rendered_once, copy, symlinks=True)
    return copy


@pytest.fixture(scope="package")
def worker(prefect):
    from microdrama.pipelines.studio import RenderWorker

    return RenderWorker().start(warm=False)


@pytest.fixture
def studio_url(out, worker):
    """The studio over `out`, served by uvicorn on a free loopback port."""
    import uvicorn

    from microdrama.studio.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(out, worker), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the studio did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
