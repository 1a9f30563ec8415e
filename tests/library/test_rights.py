"""Rights before spending: `Run.quote_first` fills a screenplay from the library and refuses, before any paid
call, an asset whose licence or consent has expired or whose territory excludes the release territory."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from microdrama.config import ProjectConfig
from microdrama.domain import Screenplay, parse_model
from microdrama.library import RightsError, describe_rights, open_library
from microdrama.run import Run
from tests.conftest import TINY_SCREENPLAY
from tests.library.conftest import character

YESTERDAY = date.today() - timedelta(days=1)
CONSENT = {"person": "张三", "covers": "likeness", "scope": "series 测试短剧", "evidence_sha256": "a" * 64}


def library_data() -> dict:
    """The tiny screenplay with 林夏 taken from the library (no look or voice written) and 赵总's voice too."""
    data = copy.deepcopy(TINY_SCREENPLAY)
    data["series"]["characters"][0] = {"id": "lin", "name": "林夏", "role": "protagonist", "asset": "char:lin_xia@1"}
    data["series"]["characters"][1]["voice"] = {"asset": "voice:deep_male", "pitch": 35}
    return data


def library_screenplay() -> Screenplay:
    return parse_model(Screenplay, library_data())


def stock(out, **lin) -> None:
    library = open_library(ProjectConfig().ledger, out_dir=out)[0]
    library.add(character(**lin))
    library.add({"asset_id": "voice:deep_male", "name": "低沉男声", "voice": {"gender": "male", "variant": 3},
                 "provenance": {"source": "own"}, "rights": {"owner": "星河影业", "licence": "own work",
                                                              "territories": ["WORLD"]}})
    library.engine.dispose()


def quote(tmp_path, material, **filing):
    run = Run(ProjectConfig(project_code="RD-LIB", filing=filing), tmp_path / "out", "ep1", 1, echo=lambda _: None)
    run.quote_first(material)
    return run


def test_the_library_fills_look_and_voice_and_the_run_records_the_versions(tmp_path):
    stock(tmp_path / "out")
    material = library_screenplay()
    run = quote(tmp_path, material)
    lin, zhao = material.series.characters
    assert lin.look == "白衬衫，黑长发" and lin.voice.gender == "female" and lin.voice.pitch == 60
    assert zhao.voice.variant == 3 and zhao.voice.pitch == 35  # the screenplay's own pitch wins
    assert [(a["used_by"], a["ref"]) for a in run.assets] == [("character lin", "char:lin_xia@1"),
                                                              ("voice of zhao", "voice:deep_male@1")]
    assert "char:lin_xia@1 林夏" in describe_rights(run.assets)


def test_an_expired_consent_stops_the_run_before_any_paid_call(tmp_path):
    stock(tmp_path / "out", person="张三", consents=[{**CONSENT, "expires": YESTERDAY.isoformat()}])
    with pytest.raises(RightsError, match=f"consent of 张三 to use their likeness expired on {YESTERDAY}"):
        quote(tmp_path, library_screenplay())
    assert open_library(ProjectConfig().ledger, out_dir=tmp_path / "out")[0].ledger.entries() == []  # nothing spent


def test_a_real_person_without_consent_is_refused(tmp_path):
    stock(tmp_path / "out", person="张三")
    with pytest.raises(RightsError, match="no consent of 张三 to use their likeness"):
        quote(tmp_path, library_screenplay())


def test_a_territory_that_excludes_the_release_stops_the_run(tmp_path):
    stock(tmp_path / "out")  # 林夏 is licensed for CN only
    with pytest.raises(RightsError, match=r"covers CN, not the release territory US \(filing.territory\)") as caught:
        quote(tmp_path, library_screenplay(), territory="US")
    assert "voice:deep_male" not in str(caught.value)  # licensed WORLD-wide: not named


def test_an_expired_licence_stops_the_run(tmp_path):
    stock(tmp_path / "out", rights={"owner": "X", "licence": "1-year", "territories": ["CN"],
                                    "expires": YESTERDAY.isoformat()})
    with pytest.raises(RightsError, match=f"licence \\(1-year, owner X\\) expired on {YESTERDAY}"):
        quote(tmp_path, library_screenplay())


def test_a_missing_asset_or_the_wrong_kind_is_named(tmp_path):
    stock(tmp_path / "out")
    data = copy.deepcopy(TINY_SCREENPLAY)
    data["series"]["characters"][0].update(asset="char:nobody")
    data["series"]["characters"][1]["voice"] = {"asset": "char:lin_xia"}
    with pytest.raises(RightsError) as caught:
        quote(tmp_path, parse_model(Screenplay, data))
    assert "no asset char:nobody" in str(caught.value) and "a character asset; name a voice asset" in str(caught.value)


def test_a_screenplay_without_assets_opens_no_library(tmp_path):
    run = Run(ProjectConfig(ledger={"enabled": False}), tmp_path / "out", "ep1", 1, echo=lambda _: None)
    run.quote_first(parse_model(Screenplay, TINY_SCREENPLAY))
    assert run.assets == [] and not (tmp_path / "out" / "library").exists()


def test_a_character_needs_look_and_voice_unless_it_names_an_asset():
    data = copy.deepcopy(TINY_SCREENPLAY)
    del data["series"]["characters"][0]["look"]
    with pytest.raises(Exception, match="look required: write it here, or name a library character"):
        parse_model(Screenplay, data)


def test_a_library_characters_sheet_is_the_reference_image_to_video_starts_from(tmp_path, picture):
    from microdrama.pipelines.episode import character_reference

    library = open_library(ProjectConfig().ledger, out_dir=tmp_path / "out")[0]
    library.add(character(), [("image", picture)])
    library.engine.dispose()
    data = library_data()
    data["series"]["characters"][1]["voice"] = {"gender": "male", "variant": 3}  # only 林夏 from the library here
    material = parse_model(Screenplay, data)
    run = quote(tmp_path, material)
    sheet = run.library_image("lin")
    assert sheet and open(sheet, "rb").read() == picture.read_bytes()
    assert run.library_image("zhao") is None
    assert character_reference.fn(run, material.series.characters[0]) == sheet  # no keyframe is generated
