"""The offline writer follows the brief: cast, places, premise, product, language, length; series chain."""

from pathlib import Path

import pytest
import yaml

from microdrama.continuity import rule_issues
from microdrama.domain import (
    LENGTH_TOLERANCE,
    Brief,
    CharacterBrief,
    Genre,
    Previously,
    estimate_episode_seconds,
    estimate_speech_seconds,
    load_model,
)
from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_rules import (
    HOOK_WINDOW_S,
    TEMPLATE_DIR,
    RuleBasedScreenplayWriter,
    known_genres,
    split_for_narration,
)
from microdrama.stages import ScreenplayInput
from tests.skills.contract import Case, SkillContract

BRIEFS = sorted((Path(__file__).parent / "briefs").glob("*.yaml"))


def write(tmp_path, pace: float = 1.0, **brief):
    b = Brief(**{"title": "T", "premise": "a hero returns", "genre": "revenge", **brief})
    return RuleBasedScreenplayWriter()(ScreenplayInput(brief=b, pace=pace), SkillContext(tmp_path))


def write_brief(tmp_path, path: Path, **changes):
    brief = load_model(Brief, path).model_copy(update=changes)
    return RuleBasedScreenplayWriter()(ScreenplayInput(brief=brief), SkillContext(tmp_path)).output


def is_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def all_text(sp) -> str:
    return " ".join([sp.episode.title, sp.episode.synopsis] + [sc.location for sc in sp.episode.scenes]
                    + [ln.text for ln in sp.spoken_lines()] + [shot.visual_prompt for _, shot in sp.shots()])


def scenes_of(sp) -> set[tuple]:
    return {(sc.location, tuple(ln.text for shot in sc.shots for ln in shot.lines)) for sc in sp.episode.scenes}


# -- the brief-following check ---------------------------------------------------------------------------


def test_five_briefs_of_different_genres_are_followed(tmp_path):
    assert len(BRIEFS) == 5 and len({load_model(Brief, p).genre for p in BRIEFS}) == 5
    written = {}
    for path in BRIEFS:
        brief = load_model(Brief, path)
        sp = write_brief(tmp_path, path)
        text = all_text(sp)
        cast = {c.name for c in sp.series.characters}
        assert cast == {c.name for c in brief.characters}, f"{path.name}: the cast is exactly the brief's"
        for c in brief.characters:
            assert c.name in " ".join(ln.text for ln in sp.spoken_lines()) or \
                any(ln.speaker == sp.series.characters[[x.name for x in sp.series.characters].index(c.name)].id
                    for ln in sp.spoken_lines()), f"{path.name}: {c.name} neither speaks nor is named"
            assert sp.series.character(next(x.id for x in sp.series.characters if x.name == c.name)).look == c.look
        assert brief.setting in text and all(place in text for place in brief.locations), path.name
        assert brief.premise.split("，")[0].split(",")[0] in text, f"{path.name}: the premise opens the episode"
        if brief.product:
            spoken = " ".join(ln.text for ln in sp.spoken_lines())
            assert brief.product.name in spoken and brief.product.price in spoken
            assert brief.product.call_to_action in [ln.text for ln in sp.spoken_lines()][-1]
        if brief.language == "en":
            assert not any(is_han(ln.text) for ln in sp.spoken_lines())
        written[path.name] = sp
    names = list(written)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = scenes_of(written[a]) & scenes_of(written[b])
            assert not shared, f"{a} and {b} share a scene: {shared}"


@pytest.mark.parametrize("target", [45, 60, 90, 120, 180])
@pytest.mark.parametrize("genre", list(Genre))
@pytest.mark.parametrize("pace", [0.8, 1.0, 1.3])
def test_estimated_length_lands_within_15_percent_of_the_target(tmp_path, target, genre, pace):
    sp = write(tmp_path, pace=pace, genre=genre.value, target_seconds=target).output
    length = estimate_episode_seconds(sp, pace=pace)
    assert abs(length - target) <= LENGTH_TOLERANCE * target, f"{length:.1f} s for a target of {target} s"


def test_a_brief_with_only_a_protagonist_gets_no_one_else(tmp_path):
    sp = write(tmp_path, characters=[CharacterBrief(name="林晚", role="protagonist", gender="female")]).output
    assert [c.name for c in sp.series.characters] == ["林晚"]
    assert {ln.speaker for ln in sp.spoken_lines()} <= {"protagonist", "narrator"}


def test_a_cast_without_a_protagonist_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="needs a protagonist"):
        Brief(title="T", premise="a hero returns", genre="revenge",
              characters=[CharacterBrief(name="Zhao", role="antagonist", gender="male")])


# -- series ----------------------------------------------------------------------------------------------


def test_a_series_of_three_reads_as_one_story(tmp_path):
    path = BRIEFS[0]
    episodes = [write_brief(tmp_path, path, episode=n, target_seconds=60) for n in (1, 2, 3)]
    assert len({sp.episode.title for sp in episodes}) == 3
    for a in range(3):
        for b in range(a + 1, 3):
            assert not scenes_of(episodes[a]) & scenes_of(episodes[b]), "two episodes share a scene"
    for before, after in zip(episodes, episodes[1:]):
        assert after.episode.scenes[0].location == before.episode.scenes[-1].location
        assert before.episode.cliffhanger in after.spoken_lines()[0].text  # the recap
    assert rule_issues(episodes) == []


def test_a_handed_on_cliffhanger_opens_the_episode(tmp_path):
    sp = write(tmp_path, episode=4, previously=Previously(episode=3, cliffhanger="谁在门外？")).output
    assert sp.spoken_lines()[0].text == "上集：谁在门外？"


def test_same_brief_gives_the_same_screenplay(tmp_path):
    assert write(tmp_path).output == write(tmp_path).output


# -- discipline and the templates ------------------------------------------------------------------------


@pytest.mark.parametrize("genre", list(Genre))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_genre_writes_an_episode_in_both_languages(tmp_path, genre, language):
    premise = "失去一切的人，回来拿回属于自己的东西。" if language == "zh" else "Someone who lost everything comes back."
    result = write(tmp_path, genre=genre.value, language=language, premise=premise)
    sp = result.output
    texts = [ln.text for ln in sp.spoken_lines()]
    assert texts and all("{" not in t for t in texts), "unfilled placeholder"
    assert all("{" not in shot.visual_prompt for _, shot in sp.shots())
    assert all(is_han(t) for t in texts) if language == "zh" else not any(is_han(t) for t in texts)
    shots = [shot for _, shot in sp.shots()]
    assert shots[0].lines and shots[0].min_duration_s <= HOOK_WINDOW_S
    assert shots[-1].lines and sp.episode.cliffhanger
    assert [s.id for s in shots] == [f"s{i:02d}" for i in range(1, len(shots) + 1)]
    assert result.usage.quantities["lines_written"] == len(texts)


def test_every_genre_has_a_template_and_every_template_a_genre():
    assert set(known_genres()) == {g.value for g in Genre}


@pytest.mark.parametrize("path", sorted(TEMPLATE_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_templates_only_use_roles_their_beats_need(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    beats = [b for slot in data["beats"].values() for b in slot] if isinstance(data["beats"], dict) else data["beats"]
    for beat in beats:
        roles = {"protagonist", "narrator", *beat.get("needs", [])}
        for shot in beat["shots"] + beat.get("followup", []):
            assert set(shot.get("cast", [])) <= roles, beat["summary"]
            assert {line[0] for line in shot.get("lines", [])} <= roles, beat["summary"]


def test_premise_is_cut_into_narration_that_fits_a_subtitle():
    parts = split_for_narration("三年前被赶出豪门的林夏隐姓埋名，如今以集团最大股东的身份归来，向羞辱她的人讨回公道。", "zh")
    assert "".join(parts) == "三年前被赶出豪门的林夏隐姓埋名，如今以集团最大股东的身份归来，向羞辱她的人讨回公道。"
    assert all(len(p) <= 22 for p in parts)
    english = split_for_narration("A barista in Melbourne falls for the rival cafe owner who keeps stealing her "
                                  "customers, and she will not let it go without a fight.", "en")
    assert all(len(p) <= 90 for p in english) and " ".join(english).startswith("A barista")


def test_unknown_genre_names_the_known_ones(tmp_path):
    with pytest.raises(InputError, match="Known genres"):
        RuleBasedScreenplayWriter().check_inputs(ScreenplayInput.model_construct(
            brief=Brief.model_construct(genre=type("G", (), {"value": "_product"})())), None)


def test_speech_estimate_grows_with_text():
    assert estimate_speech_seconds("你好", "zh") < estimate_speech_seconds("你好你好你好你好", "zh")


class TestRuleWriterContract(SkillContract):
    @pytest.fixture
    def case(self):
        return Case(RuleBasedScreenplayWriter(), {"brief": {"title": "测试短剧", "premise": "被赶出家门的千金归来",
                                                            "genre": "revenge", "target_seconds": 30}})
