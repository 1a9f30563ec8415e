"""Stage contracts: the lengths a take of a shot may have, and the shot a take is generated from."""

from microdrama.domain import CameraMove, Line, Shot, ShotSize, TimedShot
from microdrama.stages import TAKE_HOLD_SECONDS, TAKE_SLACK_SECONDS, TAKE_STEP_SECONDS, take_lengths, take_shot


def test_a_take_is_generated_in_the_half_seconds_that_cover_its_shot():
    assert take_lengths(286, 30)[0] == 300
    assert take_lengths(270, 30)[0] == 270  # already a whole number of half seconds: nothing to add
    assert take_lengths(271, 30)[0] == 285
    assert take_lengths(1, 30)[0] == 15


def test_a_kept_take_may_run_a_second_longer_or_fall_up_to_the_hold_short():
    assert (TAKE_STEP_SECONDS, TAKE_SLACK_SECONDS, TAKE_HOLD_SECONDS) == (0.5, 1.0, 1.0)
    assert take_lengths(286, 30) == [300, 315, 330, 285, 270]  # 270 is 16 frames (0.53 s) short: held
    assert take_lengths(270, 30) == [270, 285, 300, 255, 240]  # 240 is exactly a second short
    assert take_lengths(20, 30) == [30, 45, 60, 15]  # 15 holds 5 frames; nothing shorter than half a second
    for frames in range(1, 400):
        lengths = take_lengths(frames, 30)
        assert all(n % 15 == 0 and n - frames < 45 and frames - n <= 30 for n in lengths)


def test_the_shot_a_take_is_generated_from_has_no_lines_cues_or_place_in_the_episode():
    shot = Shot(id="s02", shot_size=ShotSize.medium, camera_move=CameraMove.pan_right, visual_prompt="两人对峙",
                lines=[Line(speaker="lin", text="我回来了。")])
    timed = TimedShot(shot=shot, scene_id="sc1", location="宴会厅", time_of_day="night", start_s=12.5,
                      duration_s=9.5333, frames=286, cues=[])
    edited = timed.model_copy(update={"shot": shot.model_copy(update={"lines": [Line(speaker="lin", text="我回来了，赵总。")]}),
                                      "start_s": 3.0, "frames": 291, "duration_s": 9.7})
    a, b = take_shot(timed, 300, 30), take_shot(edited, 300, 30)
    assert a == b  # same picture to generate: the same store key, the same take
    assert (a.start_s, a.frames, a.duration_s, a.shot.lines, a.cues) == (0.0, 300, 10.0, [], [])
    assert a.shot.visual_prompt == "两人对峙" and a.shot.camera_move == CameraMove.pan_right
