import pytest

from microdrama.domain import Brief, CharacterBrief, Genre, estimate_speech_seconds
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_rules import HOOK_WINDOW_S, RuleBasedScreenplayWriter
from microdrama.stages import ScreenplayInput
from tests.skills.contract import Case, SkillContract


def write(tmp_path, **brief):
    b = Brief(**{"title": "T", "premise": "a hero returns", "genre": "revenge", **brief})
    return RuleBasedScreenplayWriter()(ScreenplayInput(brief=b), SkillContext(tmp_path))


@pytest.mark.parametrize("genre", list(Genre))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_genre_writes_an_episode_in_both_languages(tmp_path, genre, language):
    result = write(tmp_path, genre=genre.value, language=language)
    sp = result.output
    assert sp.series.language == language
    texts = [ln.text for ln in sp.spoken_lines()]
    assert texts and all("{" not in t for t in texts), "unfilled placeholder"
    if language == "en":
        assert all(t.isascii() for t in texts)
    else:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in "".join(texts))
    assert result.usage.quantities["lines_written"] == len(texts)


def test_hook_is_spoken_in_the_first_shot_and_cliffhanger_ends(tmp_path):
    sp = write(tmp_path).output
    shots = [shot for _, shot in sp.shots()]
    assert shots[0].lines and shots[0].min_duration_s <= HOOK_WINDOW_S
    assert shots[-1].lines, "the last shot carries the cliffhanger"
    assert sp.episode.cliffhanger


def test_shorter_target_drops_optional_shots(tmp_path):
    long = write(tmp_path, target_seconds=120).output
    short = write(tmp_path, target_seconds=30).output
    assert len(list(short.shots())) < len(list(long.shots()))
    ids = [shot.id for _, shot in short.shots()]
    assert ids == [f"s{i:02d}" for i in range(1, len(ids) + 1)]


def test_brief_cast_is_used_and_voices_differ(tmp_path):
    sp = write(tmp_path, characters=[CharacterBrief(name="Mei", role="protagonist", gender="female")],
               language="en").output
    names = {c.role: c.name for c in sp.series.characters}
    assert names["protagonist"] == "Mei"
    voices = {(c.voice.gender, c.voice.variant) for c in sp.series.characters}
    assert len(voices) == len(sp.series.characters)


def test_same_brief_gives_the_same_screenplay(tmp_path):
    assert write(tmp_path).output == write(tmp_path).output


def test_speech_estimate_grows_with_text():
    assert estimate_speech_seconds("你好", "zh") < estimate_speech_seconds("你好你好你好你好", "zh")


class TestRuleWriterContract(SkillContract):
    @pytest.fixture
    def case(self):
        return Case(RuleBasedScreenplayWriter(), {"brief": {"title": "测试短剧", "premise": "被赶出家门的千金归来",
                                                            "genre": "revenge", "target_seconds": 30}})
