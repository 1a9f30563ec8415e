import pytest
from PIL import Image

from microdrama.errors import InputError
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import StoryboardSkill
from microdrama.stages import StoryboardInput
from tests.conftest import TINY_SCREENPLAY
from tests.skills.contract import Case, SkillContract

DURATIONS = {"s01-l1": 1.7, "s02-l1": 1.2, "s02-l2": 0.9, "s03-l1": 1.1}


def board(screenplay, tmp_path, **kw):
    return StoryboardSkill()(StoryboardInput(screenplay=screenplay, line_durations=DURATIONS, **kw), SkillContext(tmp_path))


def test_shots_are_timed_from_measured_dialogue_to_the_frame(screenplay, tmp_path):
    out = board(screenplay, tmp_path).output.storyboard
    cursor = 0
    for ts in out.shots:
        assert ts.start_s == pytest.approx(cursor / 30, abs=1e-3)
        assert ts.duration_s >= ts.shot.min_duration_s
        for cue in ts.cues:
            assert ts.start_s <= cue.start_s < cue.end_s <= ts.start_s + ts.duration_s
            assert cue.end_s - cue.start_s == pytest.approx(DURATIONS[cue.line_id], abs=1e-3)
        cursor += ts.frames
    assert out.duration_s == pytest.approx(cursor / 30)
    # s02 has two lines: lead 0.2 + 1.2 + gap 0.25 + 0.9 + tail 0.4 = 2.95 s -> 89 frames
    assert out.shots[1].frames == 89


def test_missing_durations_are_estimated_and_counted(screenplay, tmp_path):
    result = StoryboardSkill()(StoryboardInput(screenplay=screenplay, contact_sheet=False), SkillContext(tmp_path))
    assert result.usage.quantities["lines_estimated"] == 4


def test_contact_sheet_png_and_html(screenplay, tmp_path):
    out = board(screenplay, tmp_path).output
    img = Image.open(out.sheet_png)
    assert img.width > 1000 and img.height > 500
    html = open(out.sheet_html, encoding="utf-8").read()
    for shot_id in ("s01", "s02", "s03"):
        assert f"<b>{shot_id}</b>" in html
    assert "把她赶出去！" in html and html.count("data:image/png;base64,") == 3


def test_durations_for_unknown_lines_are_rejected(screenplay, tmp_path):
    with pytest.raises(InputError, match="not in the screenplay: s09-l1"):
        StoryboardSkill()(StoryboardInput(screenplay=screenplay, line_durations={"s09-l1": 1.0}), SkillContext(tmp_path))


class TestStoryboardContract(SkillContract):
    @pytest.fixture
    def case(self):
        return Case(StoryboardSkill(), {"screenplay": TINY_SCREENPLAY, "line_durations": DURATIONS, "fps": 12})


def test_a_redrawn_sheet_draws_each_scene_once_per_process_and_comes_out_the_same(screenplay, tmp_path, monkeypatch):
    """An edit redraws the sheet (timings, lines), not its scenes: they are drawn and encoded once per process."""
    import microdrama.skills.storyboard as storyboard

    storyboard._drawn_thumbnail.cache_clear()
    drawn = []
    real = storyboard.draw_scene
    monkeypatch.setattr(storyboard, "draw_scene", lambda *a, **k: drawn.append(a[1:3]) or real(*a, **k))
    first = StoryboardSkill()(StoryboardInput(screenplay=screenplay), SkillContext(tmp_path / "a")).output
    scenes = len(drawn)
    assert scenes >= 1
    again = StoryboardSkill()(StoryboardInput(screenplay=screenplay), SkillContext(tmp_path / "b")).output
    assert len(drawn) == scenes  # nothing drawn the second time
    for a, b in ((first.sheet_png, again.sheet_png), (first.sheet_html, again.sheet_html)):
        assert open(a, "rb").read() == open(b, "rb").read()
