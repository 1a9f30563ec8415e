"""Two episodes share one library character and one library voice: both manifests and filing packs cite the same
asset versions; a run's character is saved back with its provenance; the series' rights report lists them."""

from __future__ import annotations

import json

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from microdrama.cli import app
from microdrama.config import ProjectConfig
from microdrama.library import open_library
from tests.library.test_rights import library_data, stock

TINY = {"project_code": "RD-LIB", "render": {"width": 270, "height": 480, "fps": 5},
        "subtitles": {"font_size": 18}, "qa": {"dub_qa": "off"}}


@pytest.fixture(scope="module")
def two_episodes(prefect_harness, tmp_path_factory):
    """Two series (测试短剧 and its sequel) cast from one library character and one library voice."""
    from microdrama.pipelines.episode import episode_flow

    root = tmp_path_factory.mktemp("library-series")
    out = root / "out"
    stock(out)
    for number in (1, 2):
        data = library_data()
        data["episode"]["number"] = number
        if number == 2:
            data["series"]["title"] = "测试短剧·第二季"
        source = root / f"ep{number}.yaml"
        source.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        episode_flow(source=source, config=ProjectConfig.model_validate(TINY), out_dir=out, run_name=f"ep{number}")
    return out


def test_two_series_cite_the_same_asset_versions(two_episodes):
    cited = []
    for run in ("ep1", "ep2"):
        manifest = json.loads((two_episodes / run / "manifest.json").read_text(encoding="utf-8"))
        cited.append([(a["used_by"], a["ref"], a["record_sha256"]) for a in manifest["assets"]])
        filing = json.loads((two_episodes / run / "filing" / "online.json").read_text(encoding="utf-8"))
        rights = filing["fields"]["素材权利与授权 asset rights and consents"]
        assert "char:lin_xia@1 林夏" in rights and "voice:deep_male@1" in rights
        cast = {c["speaker"]: c for c in manifest["cast"]}
        assert cast["lin"]["gender"] == "female" and cast["zhao"]["variant"] == 3
    assert cited[0] == cited[1] and [ref for _, ref, _ in cited[0]] == ["char:lin_xia@1", "voice:deep_male@1"]


def test_a_run_character_is_saved_back_with_its_provenance(two_episodes):
    result = CliRunner().invoke(app, ["assets", "add", "--from-run", str(two_episodes / "ep2"), "--character",
                                      "zhao", "--owner", "星河影业", "--licence", "own work", "--territory", "CN",
                                      "--out", str(two_episodes)])
    assert result.exit_code == 0, result.output
    saved = open_library(ProjectConfig().ledger, out_dir=two_episodes)[0].get("char:zhao")
    manifest = json.loads((two_episodes / "ep2" / "manifest.json").read_text(encoding="utf-8"))
    assert saved.provenance.source == "generated" and saved.provenance.run_id == manifest["run_id"]
    assert saved.provenance.model == "dubbing-espeak" and saved.look == "黑西装"
    assert saved.voice.variant == 3 and saved.voice.pitch == 35


def test_the_series_rights_report(two_episodes):
    result = CliRunner().invoke(app, ["assets", "export", "--series", "测试短剧", "--out", str(two_episodes)])
    assert result.exit_code == 0, result.output
    folder = two_episodes / "rights" / "测试短剧"
    page = (folder / "rights.html").read_text(encoding="utf-8")
    assert "@font-face" in page and "char:lin_xia@1" in page and "ep1: character lin" in page
    assert "ep2:" not in page  # the sequel is another series
    rows = list(openpyxl.load_workbook(folder / "rights.xlsx")["Rights"].values)
    assert {r[0] for r in rows[2:]} >= {"char:lin_xia@1", "voice:deep_male@1"}
    assert all(r[10] == "OK" for r in rows[2:])


def test_the_studio_shows_the_assets_an_episode_relies_on_with_their_rights(two_episodes):
    from microdrama.studio.pages import episode

    assets = episode(two_episodes, "ep2")["compliance"]["assets"]
    assert [(a["ref"], a["used_by"]) for a in assets] == [("char:lin_xia@1", "character lin"),
                                                          ("voice:deep_male@1", "voice of zhao")]
    assert assets[0]["owner"] and assets[0]["territories"]
