"""Episode covers: 9:16 and 3:4, from the first shot with a character, titled, visibly and implicitly labelled."""

import numpy as np
import pytest
from PIL import Image

from microdrama.config import ProjectConfig
from microdrama.covers import SIZES, pick_frame, write_covers
from microdrama.errors import RenderError
from microdrama.labels.carriers import read_label
from microdrama.labels.check import check_file
from microdrama.media import run_ffmpeg
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import StoryboardSkill
from microdrama.stages import StoryboardInput


@pytest.fixture
def board(screenplay, tmp_path):
    ctx = SkillContext(tmp_path / "board")
    return StoryboardSkill()(StoryboardInput(screenplay=screenplay, contact_sheet=False), ctx).output.storyboard


@pytest.fixture
def takes(board, tmp_path):
    """One clean 1-second clip per shot, as the take log records them (s01 red, the others blue)."""
    log = []
    for ts in board.shots:
        clip = tmp_path / f"{ts.shot.id}.mp4"
        color = "red" if ts.shot.id == "s01" else "blue"
        run_ffmpeg(["-f", "lavfi", "-i", f"color=c={color}:size=72x128:rate=5:duration={ts.duration_s}",
                    "-pix_fmt", "yuv420p", str(clip)])
        log.append({"shot_id": ts.shot.id, "take": 1, "status": "accepted", "in_cut": True, "video": str(clip)})
    return log


def test_the_frame_is_the_middle_of_the_first_shot_with_a_character(board):
    clips = {ts.shot.id: "x.mp4" for ts in board.shots}
    assert pick_frame(board, clips) == ("s01", board.shots[0].duration_s / 2)  # s01 shows 林夏
    assert pick_frame(board, {"s03": "x.mp4"})[0] == "s03"  # no character shot has a clip: the first that has one


def test_covers_are_9x16_and_3x4_with_the_mark_and_a_passing_label(screenplay, board, takes, tmp_path):
    covers = write_covers(tmp_path / "run", screenplay, board, takes, ProjectConfig(), "run-1")
    assert [p.name for p in covers] == ["cover-9x16.jpg", "cover-3x4.jpg"]
    for path, size in zip(covers, SIZES.values()):
        img = Image.open(path)
        assert img.size == size
        assert np.asarray(img.convert("RGB"))[size[1] // 3, size[0] // 2][0] > 200  # the red s01 frame
        assert check_file(path).ok  # TC260 metadata with the content hash


def test_covers_without_labels_keep_the_visible_mark(screenplay, board, takes, tmp_path):
    from microdrama.labels.visible import text_band_height

    config = ProjectConfig.model_validate({"labels": {"enabled": False}, "mark": {"position": "top_left"}})
    path = write_covers(tmp_path / "run", screenplay, board, takes, config)[0]
    gray = np.asarray(Image.open(path).convert("L"))
    assert text_band_height(gray) >= 0.05 * min(gray.shape)
    assert not check_file(path).ok  # no implicit label was asked for


def test_a_cover_whose_mark_is_too_small_is_refused(tmp_path):
    from microdrama.covers import check_visible_mark

    Image.new("RGB", (270, 480), (20, 20, 20)).save(tmp_path / "plain.jpg")
    with pytest.raises(RenderError, match="under 5%"):
        check_visible_mark(tmp_path / "plain.jpg")


def test_a_run_without_takes_writes_no_covers(screenplay, board, tmp_path):
    assert write_covers(tmp_path / "run", screenplay, board, [], ProjectConfig()) == []


def test_covers_made_from_the_same_frame_and_titles_are_copied_not_made_again(screenplay, board, takes, tmp_path,
                                                                                 monkeypatch):
    """A line edit does not touch the covers: the next run copies them (labels and all); a new title makes them again."""
    import microdrama.covers as covers

    first = write_covers(tmp_path / "run", screenplay, board, takes, ProjectConfig(), "run-1",
                         folder=tmp_path / "a", reuse_from=tmp_path / "none-yet")
    made = {p.name: p.read_bytes() for p in first}

    def not_drawn(*args, **kwargs):
        raise AssertionError("a cover was drawn again")

    monkeypatch.setattr(covers, "draw_cover", not_drawn)
    again = write_covers(tmp_path / "run", screenplay, board, takes, ProjectConfig(), "run-2",
                         folder=tmp_path / "b", reuse_from=tmp_path / "a")
    assert {p.name: p.read_bytes() for p in again} == made  # the same files, ProduceID of the run that made them
    monkeypatch.undo()
    retitled = screenplay.model_copy(deep=True)
    retitled.series.title = "新的剧名"
    third = write_covers(tmp_path / "run", retitled, board, takes, ProjectConfig(), "run-3",
                         folder=tmp_path / "c", reuse_from=tmp_path / "b")
    assert all(p.read_bytes() != made[p.name] for p in third)
    assert "run-3" in read_label(third[0])
