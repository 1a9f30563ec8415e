"""The mix: music beds under the voices, dipped while someone speaks; placed by scene."""

import numpy as np
import pytest

from microdrama.config import ProjectConfig
from microdrama.errors import InputError
from microdrama.finishing import MIX_RATE, mix_dialogue
from microdrama.run import music_beds
from microdrama.speech import read_wav, write_wav
from microdrama.stages import MusicBed


@pytest.fixture
def bed_file(tmp_path):
    t = np.arange(MIX_RATE * 2) / MIX_RATE  # two seconds of a soft chord, looped by the mixer
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)) / 3 * 12000
    path = tmp_path / "bed.wav"
    write_wav(path, chord, MIX_RATE)
    return path


def test_music_dips_under_every_line_and_comes_back_between_lines(tiny_episode, bed_file, tmp_path):
    import copy

    from microdrama.domain import Screenplay, parse_model
    from microdrama.skills.storyboard import time_shots
    from microdrama.speech import read_wav as durations_of
    from microdrama.stages import StoryboardInput
    from tests.conftest import TINY_SCREENPLAY

    data = copy.deepcopy(TINY_SCREENPLAY)  # the tiny episode plus a 4-second shot with no one speaking
    data["episode"]["scenes"][0]["shots"].append({"id": "s04", "shot_size": "wide", "visual_prompt": "夜景",
                                                  "min_duration_s": 4.0})
    lengths = {k: (lambda r: r[1].size / r[0])(durations_of(v)) for k, v in tiny_episode.audio.items()}
    board, _ = time_shots(StoryboardInput(screenplay=parse_model(Screenplay, data), line_durations=lengths, fps=12))
    dry, wet = tmp_path / "dry.wav", tmp_path / "wet.wav"
    mix_dialogue(board, tiny_episode.audio, dry)
    mix_dialogue(board, tiny_episode.audio, wet, music=[MusicBed(file=str(bed_file), licence="CC0", gain_db=-10,
                                                                 duck_db=-15)])
    music = read_wav(wet)[1].astype(float) - read_wav(dry)[1].astype(float)  # what the bed added

    def level_db(a, b):
        seg = music[round(a * MIX_RATE):round(b * MIX_RATE)]
        return 20 * np.log10(float(np.sqrt(np.mean(seg ** 2))))

    cue = board.cues()[1]
    quiet = board.shot("s04")
    during = level_db(cue.start_s + 0.1, cue.end_s - 0.1)
    between = level_db(quiet.start_s + 1.0, quiet.start_s + 3.0)
    assert between - during == pytest.approx(15, abs=2)  # dipped by its duck_db while someone speaks
    assert during > -200  # and still there underneath


def test_beds_are_placed_on_their_scenes_and_unknown_scenes_are_named(tiny_episode, bed_file):
    board = tiny_episode.board
    whole = ProjectConfig.model_validate({"music": [{"file": str(bed_file), "licence": "CC0"}]})
    assert [(b.start_s, b.end_s) for b in music_beds(whole, board)] == [(0.0, pytest.approx(board.duration_s, abs=1e-3))]
    bad = ProjectConfig.model_validate({"music": [{"file": str(bed_file), "licence": "CC0", "scenes": ["sc9"]}]})
    with pytest.raises(InputError, match=r"music\[0\].scenes: sc9 is not a scene of this episode \(scenes: sc1\)"):
        music_beds(bad, board)


@pytest.mark.parametrize("line", [
    "「Dr. Chen说了——ThermoGlow™ 保温杯只要¥199，没有人不心动🙂」她一个人站在门口，谁都没有想到啊。",
    "“Dr. Chen says the ThermoGlow™ Cup is ¥199 — a steal 🙂,” he said.",
])
def test_a_mixed_line_burns_in_inside_the_safe_area_as_measured(tmp_path, line):
    """The issue's 60-character line through libass, row by row: each row's ink lies inside the 9:16 safe
    area and matches the width the wrapper measured within 5%, and nothing the font lacks (🙂) is drawn."""
    import shutil

    from PIL import Image

    from microdrama.finishing import build_ass, libass_scale, subtitle_rows
    from microdrama.media import cjk_font_path, run_ffmpeg
    from microdrama.stages import SubEvent, SubtitleStyle
    from microdrama.text import _drawable, font

    style = SubtitleStyle(font_size=60)
    left, right = 1080 * style.side_margin, 1080 * (1 - style.side_margin)
    rows = subtitle_rows(line, right - left, style.font_size)
    assert len(rows) >= 2 and all(ord(ch) in _drawable() for row in rows for ch in row)  # no tofu
    (tmp_path / "fonts").mkdir()
    shutil.copyfile(cjk_font_path(), tmp_path / "fonts" / cjk_font_path().name)
    fnt = font(round(style.font_size * libass_scale()))
    for i, row in enumerate(rows):
        ass = build_ass([SubEvent(start_s=0, end_s=2, rows=[row])], 1080, 1920, style)
        (tmp_path / f"row{i}.ass").write_text(ass.to_string("ass"), encoding="utf-8")
        run_ffmpeg(["-f", "lavfi", "-i", "color=black:s=1080x1920:d=1", "-vf",
                    f"subtitles=filename=row{i}.ass:fontsdir=fonts", "-frames:v", "1", f"row{i}.png"], cwd=tmp_path)
        gray = np.asarray(Image.open(tmp_path / f"row{i}.png").convert("L"))
        columns = np.flatnonzero((gray > 200).any(axis=0))
        drawn, assumed = columns[-1] - columns[0], fnt.getlength(row)
        assert drawn == pytest.approx(assumed, rel=0.05), (row, drawn, assumed)
        assert left <= columns[0] and columns[-1] <= right, (row, columns[0], columns[-1])


def test_a_pass_metered_without_true_peak_reads_the_same_loudness_and_silence_is_still_refused(tmp_path):
    """The normaliser's passes skip the 4x-oversampling true-peak meter (the limiter bounds the peak): the
    integrated reading is the one the full meter gives, and a silent pass is SilentAudio either way."""
    from microdrama.finishing import SilentAudio, filter_and_measure

    t = np.arange(3 * MIX_RATE) / MIX_RATE
    tone = tmp_path / "tone.wav"
    write_wav(tone, (np.sin(2 * np.pi * 440 * t) * 8000 * (t % 1 < 0.5)).astype(np.float32), MIX_RATE)
    full = filter_and_measure(tone, tmp_path / "a.wav", "volume=2dB")
    light = filter_and_measure(tone, tmp_path / "b.wav", "volume=2dB", true_peak=False)
    assert set(full) == {"integrated_lufs", "true_peak_dbtp"} and set(light) == {"integrated_lufs"}
    assert light["integrated_lufs"] == full["integrated_lufs"]
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()  # the meter does not touch the sound
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, np.zeros(MIX_RATE, dtype=np.float32), MIX_RATE)
    for true_peak in (True, False):
        with pytest.raises(SilentAudio):
            filter_and_measure(quiet, tmp_path / "c.wav", "anull", true_peak=true_peak)
