"""A tiny rendered episode and a studio over it, shared by the studio's API and browser tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig

TINY = {"project_code": "RD-STUDIO", "render": {"width": 270, "height": 480, "fps": 5},
        "subtitles": {"font_size": 18}, "qa": {"dub_qa": "off"}}


@pytest.fixture(scope="package")
def prefect():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


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
