import pysubs2
import pytest

from microdrama.errors import InputError
from microdrama.finishing import wrap_rows
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import time_shots
from microdrama.skills.subtitles import SubtitleWriter
from microdrama.stages import StoryboardInput, SubtitlesInput
from microdrama.text import NO_ROW_START, font
from tests.skills.conftest import H, W
from tests.skills.contract import Case, SkillContract


def storyboard(screenplay):
    board, _ = time_shots(StoryboardInput(screenplay=screenplay, line_durations={
        "s01-l1": 1.7, "s02-l1": 1.2, "s02-l2": 0.9, "s03-l1": 1.1}))
    return board


def test_one_event_per_line_inside_its_audio(screenplay, tmp_path):
    board = storyboard(screenplay)
    out = SubtitleWriter()(SubtitlesInput(storyboard=board), SkillContext(tmp_path)).output
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
        SubtitleWriter()(SubtitlesInput(storyboard=board, style={"font_size": 200, "side_margin": 0.3}, max_rows=1), SkillContext(tmp_path))


def test_whisper_words_narrow_timing_and_split_long_lines(screenplay, tmp_path):
    from microdrama.stages import AlignedWord

    board = storyboard(screenplay)
    cue = board.cues()[0]
    words = [AlignedWord(start=0.3, end=0.9, word="把她"), AlignedWord(start=1.0, end=1.5, word="赶出去")]
    out = SubtitleWriter()(SubtitlesInput(storyboard=board, alignment={cue.line_id: words}), SkillContext(tmp_path)).output
    first = out.events[0]
    assert first.start_s == pytest.approx(cue.start_s + 0.3) and first.end_s == pytest.approx(cue.start_s + 1.5)
    assert first.shot_start_s == pytest.approx(cue.shot_start_s + 0.3)


def test_long_aligned_lines_become_several_events_at_word_boundaries(screenplay_data, tmp_path):
    from microdrama.domain import Screenplay, parse_model
    from microdrama.stages import AlignedWord

    text = "Three years ago we threw you out of this house and you dare to come back here tonight with that smile"
    screenplay_data["series"]["language"] = "en"
    screenplay_data["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = text
    sp = parse_model(Screenplay, screenplay_data)
    board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations={
        "s01-l1": 6.0, "s02-l1": 1.2, "s02-l2": 0.9, "s03-l1": 1.1}))
    words = [AlignedWord(start=0.25 * i, end=0.25 * i + 0.2, word=w) for i, w in enumerate(text.split())]
    out = SubtitleWriter()(SubtitlesInput(storyboard=board, alignment={"s01-l1": words}),
                           SkillContext(tmp_path)).output
    pieces = [e for e in out.events if e.line_id == "s01-l1"]
    assert len(pieces) >= 2 and all(len(p.rows) <= 2 for p in pieces)
    assert " ".join(" ".join(p.rows) for p in pieces).split() == text.split()
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(pieces, pieces[1:]))  # in order, no overlap


def test_bilingual_subtitles_stack_the_translation(screenplay, tmp_path):
    board = storyboard(screenplay)
    secondary = {c.line_id: "Get out of here!" for c in board.cues()}
    out = SubtitleWriter()(SubtitlesInput(storyboard=board, secondary=secondary), SkillContext(tmp_path)).output
    ass = pysubs2.load(out.ass)
    assert "Get out of here!" in ass[0].text and "把她赶出去！" in ass[0].text and "\\fs40" in ass[0].text
    srt = pysubs2.load(out.srt)
    assert srt[0].plaintext.splitlines() == ["把她赶出去！", "Get out of here!"]
    assert len(srt) == len(board.cues())


def test_a_misspelt_key_is_an_error_naming_the_key_and_the_stage(screenplay):
    skill = SubtitleWriter()
    board = storyboard(screenplay).model_dump(mode="json")
    with pytest.raises(InputError) as caught:
        skill.parse_input({"storyboard": board, "font_sise": 20})
    assert "font_sise" in str(caught.value) and "subtitles stage" in str(caught.value)
    with pytest.raises(InputError, match=r"style\.font_sise"):
        skill.parse_input({"storyboard": board, "style": {"font_sise": 20}})


class TestSubtitlesContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        return Case(SubtitleWriter(), {"storyboard": tiny_episode.board.model_dump(mode="json"), "width": W,
                                       "height": H, "style": {"font_size": 12}, "secondary": {"s01-l1": "Out!"}})


def test_override_tags_in_a_line_are_shown_as_text_not_obeyed(screenplay_data, tmp_path):
    from microdrama.domain import Screenplay, parse_model

    screenplay_data["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = r"{\fs200\pos(10,10)}赶出去\N走"
    sp = parse_model(Screenplay, screenplay_data)
    board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations={
        "s01-l1": 1.7, "s02-l1": 1.2, "s02-l2": 0.9, "s03-l1": 1.1}))
    out = SubtitleWriter()(SubtitlesInput(storyboard=board), SkillContext(tmp_path)).output
    first = pysubs2.load(out.ass)[0]
    assert "\\fs200" not in first.text and "\\pos" not in first.text and "{" not in first.text
    assert first.plaintext == "｛＼fs200＼pos(10,10)｝赶出去＼N走"


def test_a_line_break_inside_a_line_is_refused_with_a_fix(screenplay_data):
    from microdrama.domain import Screenplay, parse_model

    screenplay_data["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = "把她\n赶出去"
    with pytest.raises(InputError, match=r"lines\[0\]\.text: contains control characters \(U\+000A\).*split it"):
        parse_model(Screenplay, screenplay_data)


@pytest.mark.parametrize("row", ["三年前你被赶出赵家今天还敢回来", "Security throw this woman out of my party"])
def test_the_wrapper_measures_what_libass_draws(tmp_path, row):
    """Burn one row with libass (ffmpeg's subtitles filter) and measure its ink: the width the wrapper
    assumed must match within 5%, or it would refuse lines that fit (or let through lines that do not)."""
    import shutil

    import numpy as np
    from PIL import Image

    from microdrama.finishing import build_ass, libass_scale
    from microdrama.media import cjk_font_path, run_ffmpeg
    from microdrama.stages import SubEvent, SubtitleStyle
    from microdrama.text import font

    style = SubtitleStyle(font_size=60)
    (tmp_path / "fonts").mkdir()
    shutil.copyfile(cjk_font_path(), tmp_path / "fonts" / cjk_font_path().name)
    ass = build_ass([SubEvent(start_s=0, end_s=2, rows=[row])], 1080, 1920, style)
    (tmp_path / "row.ass").write_text(ass.to_string("ass"), encoding="utf-8")
    run_ffmpeg(["-f", "lavfi", "-i", "color=black:s=1080x1920:d=1", "-vf", "subtitles=filename=row.ass:fontsdir=fonts",
                "-frames:v", "1", "row.png"], cwd=tmp_path)
    gray = np.asarray(Image.open(tmp_path / "row.png").convert("L"))
    columns = np.flatnonzero((gray > 200).any(axis=0))
    drawn = columns[-1] - columns[0]
    assumed = font(round(60 * libass_scale())).getlength(row)
    assert drawn == pytest.approx(assumed, rel=0.05), (drawn, assumed)


@pytest.mark.parametrize("language,text", [
    ("en", "The ThermoGlow™ Cup from Dr. Chen keeps tea hot for twelve hours, and at ¥199 it is a steal "
           "for night owls"),
    ("zh", "三年前你被赶出家门的时候，没有人站出来替你说一句话，今天你一个人回来，到底想要什么东西"),
])
def test_aligned_lines_with_any_script_split_between_words(screenplay_data, tmp_path, language, text):
    """A non-ASCII character once made the split fall per character ("ThermoGlow™ Cu / p")."""
    from microdrama.domain import Screenplay, parse_model
    from microdrama.stages import AlignedWord
    from microdrama.text import break_units

    screenplay_data["series"]["language"] = language
    screenplay_data["episode"]["scenes"][0]["shots"][0]["lines"][0]["text"] = text
    sp = parse_model(Screenplay, screenplay_data)
    board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations={
        "s01-l1": 8.0, "s02-l1": 1.2, "s02-l2": 0.9, "s03-l1": 1.1}))
    words = [AlignedWord(start=0.2 * i, end=0.2 * i + 0.15, word=w) for i, w in enumerate(text.split())]
    out = SubtitleWriter()(SubtitlesInput(storyboard=board, alignment={"s01-l1": words}),
                           SkillContext(tmp_path)).output
    pieces = ["".join(e.rows) if language == "zh" else " ".join(e.rows) for e in out.events if e.line_id == "s01-l1"]
    assert len(pieces) >= 2
    boundaries, at = set(), 0
    for unit in break_units(text):
        at += len(unit)
        boundaries.add(len(text[:at].replace(" ", "")))
    at = 0
    for piece in pieces[:-1]:
        at += len(piece.replace(" ", ""))
        assert at in boundaries, f"split inside a word after {piece!r}"
    assert "ThermoGlow™" in " ".join(pieces) or language == "zh"
