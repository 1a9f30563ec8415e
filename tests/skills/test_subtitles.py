import pysubs2
import pytest

from microdrama.errors import InputError
from microdrama.panels import NO_ROW_START, font
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import StoryboardInput, time_shots
from microdrama.skills.subtitles import SubtitleInput, SubtitleWriter, wrap_rows


def storyboard(screenplay):
    board, _ = time_shots(StoryboardInput(screenplay=screenplay, line_durations={
        "s01-l1": 1.7, "s02-l1": 1.2, "s02-l2": 0.9, "s03-l1": 1.1}))
    return board


def test_one_event_per_line_inside_its_audio(screenplay, tmp_path):
    board = storyboard(screenplay)
    out = SubtitleWriter()(SubtitleInput(storyboard=board), SkillContext(tmp_path)).output
    for path in (out.srt, out.ass):
        subs = pysubs2.load(path)  # parsed back by an independent reader
        assert len(subs) == len(board.cues()) == 4
        for event, cue in zip(subs, board.cues()):
            assert cue.start_s * 1000 <= event.start < event.end <= cue.end_s * 1000
    ass = pysubs2.load(out.ass)
    assert ass.info["PlayResX"] == "1080" and ass.info["WrapStyle"] == "2"
    assert ass.styles["Default"].fontname == "Noto Sans SC"


@pytest.mark.parametrize("text", [
    "三年前你被赶出赵家，今天还敢回来？我回来，是拿回属于我的东西。",
    "Three years ago we threw you out of this house. And you dare come back tonight?",
    "Close-up of 林夏 in a glittering banquet hall, champagne spilled on her shirt",
])
def test_wrapping_fits_the_safe_area_and_respects_punctuation(text):
    max_width = 1080 * 0.8
    rows = wrap_rows(text, max_width, 60)
    assert len(rows) >= 2
    assert "".join(r.replace(" ", "") for r in rows) == text.replace(" ", "")
    fnt = font(60)
    assert all(fnt.getlength(r) <= max_width + 60 for r in rows)  # a closing mark may hang by one glyph
    assert not any(r[0] in NO_ROW_START for r in rows[1:])


def test_balanced_rows_are_similar_in_length():
    rows = wrap_rows("三年前你被赶出赵家，今天还敢回来。", 864, 60)
    assert len(rows) == 2 and abs(len(rows[0]) - len(rows[1])) <= 3


def test_a_line_too_long_for_the_rows_is_rejected_with_a_fix(screenplay, tmp_path):
    board = storyboard(screenplay)
    with pytest.raises(InputError, match="Split it into two lines"):
        SubtitleWriter()(SubtitleInput(storyboard=board, font_size=200, max_rows=1), SkillContext(tmp_path))
