
import pytest

from microdrama.domain import Brief, Screenplay, dump_yaml, load_model, parse_model
from microdrama.errors import InputError


def test_screenplay_round_trips_through_yaml_and_json(screenplay, tmp_path):
    y = tmp_path / "sp.yaml"
    y.write_text(dump_yaml(screenplay), encoding="utf-8")
    assert load_model(Screenplay, y) == screenplay
    j = tmp_path / "sp.json"
    j.write_text(screenplay.model_dump_json(), encoding="utf-8")
    assert load_model(Screenplay, j) == screenplay
    assert "林夏" in y.read_text(encoding="utf-8")  # readable Chinese, not \u escapes


def test_spoken_lines_have_stable_ids(screenplay):
    assert [ln.id for ln in screenplay.spoken_lines()] == ["s01-l1", "s02-l1", "s02-l2", "s03-l1"]


def test_unknown_speaker_names_the_field_and_the_fix(screenplay_data):
    screenplay_data["episode"]["scenes"][0]["shots"][1]["lines"][0]["speaker"] = "bob"
    with pytest.raises(InputError) as exc:
        parse_model(Screenplay, screenplay_data)
    msg = str(exc.value)
    assert "episode.scenes[0].shots[1].lines[0].speaker" in msg
    assert "'bob' is not a character" in msg and "add it or fix the name" in msg


def test_typo_in_a_key_is_an_error_not_ignored(screenplay_data):
    screenplay_data["episode"]["scenes"][0]["shots"][0]["shotsize"] = "wide"
    with pytest.raises(InputError, match=r"shots\[0\]\.shotsize: unknown key; did you mean 'shot_size'"):
        parse_model(Screenplay, screenplay_data)


def test_bad_enum_value_shows_the_allowed_values():
    with pytest.raises(InputError) as exc:
        parse_model(Brief, {"title": "t", "premise": "a premise", "genre": "comedy"})
    msg = str(exc.value)
    assert "genre" in msg and "Fix: one of: revenge, romance, suspense" in msg


def test_missing_required_field_is_named():
    with pytest.raises(InputError, match=r"premise: Field required"):
        parse_model(Brief, {"title": "t", "genre": "revenge"})


def test_duplicate_shot_ids_are_rejected(screenplay_data):
    screenplay_data["episode"]["scenes"][0]["shots"][1]["id"] = "s01"
    with pytest.raises(InputError, match="shot id 's01' is used twice"):
        parse_model(Screenplay, screenplay_data)


def test_broken_yaml_file_gets_a_clear_error(tmp_path):
    bad = tmp_path / "brief.yaml"
    bad.write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_model(Brief, bad)


def test_missing_file_gets_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_model(Brief, tmp_path / "nope.yaml")


def test_bundled_demo_briefs_are_valid():
    from microdrama.assets import ASSETS_DIR

    for path in (ASSETS_DIR / "demo").glob("brief*.yaml"):
        brief = load_model(Brief, path)
        assert 45 <= brief.target_seconds <= 90


def test_lines_shots_and_voices_are_found_by_id(screenplay):
    from microdrama.domain import NARRATOR, Voice, estimate_speech_seconds
    from microdrama.skills.storyboard import time_shots
    from microdrama.stages import StoryboardInput

    assert screenplay.line("s02-l2").text == "不可能！" and screenplay.line("s02-l2").shot_id == "s02"
    with pytest.raises(KeyError, match="no line 's09-l1'"):
        screenplay.line("s09-l1")
    narrator = Voice(gender="male", variant=2)
    assert screenplay.voice_of(NARRATOR, narrator) is narrator
    assert screenplay.voice_of("lin", narrator) == screenplay.series.character("lin").voice
    board, _ = time_shots(StoryboardInput(screenplay=screenplay))
    assert board.shot("s03").shot.id == "s03"
    with pytest.raises(KeyError, match="no shot 's09'"):
        board.shot("s09")
    assert estimate_speech_seconds("一二三四", "zh") == pytest.approx(1.3)
