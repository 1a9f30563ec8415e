"""The visible label measured on decoded frames, plus the audio label and the opening card."""

import numpy as np
import pytest

from microdrama.finishing import MIX_RATE, morse_ai
from microdrama.labels.check import check_file
from microdrama.labels.visible import AiMark, measure, text_band_height
from microdrama.media import run_ffmpeg
from microdrama.skill import SkillContext
from microdrama.skills.animatic import AnimaticRenderer
from microdrama.skills.compose_ffmpeg import FfmpegComposer
from microdrama.skills.mix_ffmpeg import FfmpegMixer
from microdrama.skills.storyboard import time_shots
from microdrama.stages import ComposeInput, EncodeSpec, MixInput, StoryboardInput, VisualsInput
from tests.helpers import dub_all

W, H = 540, 960


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from microdrama.domain import Screenplay, parse_model
    from tests.conftest import TINY_SCREENPLAY

    sp = parse_model(Screenplay, TINY_SCREENPLAY)
    tmp = tmp_path_factory.mktemp("visible")
    audio, durations = dub_all(sp, tmp / "audio")
    board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations=durations, fps=15))
    clips = {ts.shot.id: AnimaticRenderer()(VisualsInput(
        shot=ts, characters=[sp.series.character(c) for c in ts.shot.characters],
        encode=EncodeSpec(width=W, height=H, fps=15, crf=18, preset="ultrafast")),
        SkillContext(tmp / "clips")).output.video for ts in board.shots}
    sound = FfmpegMixer()(MixInput(storyboard=board, line_audio=audio), SkillContext(tmp / "mix")).output
    return tmp, board, clips, sound


def compose(parts, name, **kw):
    tmp, board, clips, sound = parts
    return FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound,
                                         encode=EncodeSpec(width=W, height=H, fps=15), basename=name, **kw), SkillContext(tmp / name)).output.video


def test_mark_is_measured_at_least_five_percent_for_two_seconds(parts):
    video = compose(parts, "marked", mark=AiMark(seconds=2.5))
    samples, shorter = measure(video)
    assert [s.t for s in samples] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert all(s.height_px >= 0.05 * shorter for s in samples)
    assert all(s.height_px < 0.1 * shorter for s in samples)  # measures the text, not the whole corner
    clause = check_file(video).clauses[0]
    assert clause.ok and "need ≥ 27px" in clause.detail


def test_a_clip_without_the_mark_fails_the_visible_clause(parts):
    _, board, clips, _ = parts
    clause = check_file(clips[board.shots[0].shot.id]).clauses[0]
    assert not clause.ok


def test_a_too_small_mark_fails(parts, tmp_path):
    _, board, clips, _ = parts
    small = tmp_path / "small.mp4"
    font = __import__("microdrama.media", fromlist=["cjk_font_path"]).cjk_font_path()
    (tmp_path / "mark.txt").write_text("AI生成", encoding="utf-8")
    run_ffmpeg(["-i", clips["s02"], "-vf", f"drawtext=fontfile={font}:textfile=mark.txt:fontsize=14:"
                "fontcolor=white:x=w-tw-20:y=20:box=1:boxcolor=black@0.5", "-c:v", "libx264", small.name], cwd=tmp_path)
    samples, shorter = measure(small, until_s=1.0)
    assert 0 < max(s.height_px for s in samples) < 0.05 * shorter
    assert not check_file(small).clauses[0].ok


def test_a_cut_with_the_same_opening_is_not_decoded_again_and_a_changed_one_is(parts, tmp_path, monkeypatch):
    """The reading is kept by the hash of the packets it decodes from (the studio re-checks after every edit)."""
    import shutil

    from microdrama.labels import visible

    video = compose(parts, "kept", mark=AiMark(seconds=2.5))
    first = measure(video)
    decoded = []
    monkeypatch.setattr(visible, "_decode_and_measure", lambda *a: decoded.append(a) or first)
    copy = shutil.copy(video, tmp_path / "relabelled.mp4")  # another file, the same packets: a re-cut, relabelled
    assert measure(copy) == first and decoded == []
    assert measure(copy, until_s=1.0) == first and len(decoded) == 1  # another span is another reading
    unmarked = compose(parts, "other-opening", mark=AiMark(seconds=2.5), opening_text="备案号 test")
    measure(unmarked)
    assert len(decoded) == 2  # a changed opening is decoded


def test_text_band_ignores_a_white_sky():
    frame = np.full((400, 300), 250, dtype=np.uint8)  # a blown-out sky fills the top band
    assert text_band_height(frame) == 0


def test_morse_audio_label_is_short_long_short_short():
    beeps = morse_ai()
    loud = np.abs(beeps) > 1000
    edges = np.flatnonzero(np.diff(loud.astype(int)))
    # group sample runs into tones separated by silences longer than 10 ms
    tones, start = [], None
    for i in range(loud.size):
        if loud[i] and start is None:
            start = i
        if start is not None and (i == loud.size - 1 or not loud[i:i + int(0.01 * MIX_RATE)].any()):
            tones.append((i - start) / MIX_RATE)
            start = None
    assert len(edges) > 0 and len(tones) == 4
    short = tones[0]
    assert tones[1] == pytest.approx(3 * short, rel=0.15)
    assert tones[2] == pytest.approx(short, rel=0.15) and tones[3] == pytest.approx(short, rel=0.15)


def test_opening_card_shows_then_goes(parts):
    import av

    video = compose(parts, "opening", opening_text="备案号：沪微短剧2026-001", opening_seconds=1.0)
    seen = {}
    with av.open(video) as c:
        for frame in c.decode(video=0):
            t = float(frame.pts * frame.time_base)
            gray = frame.to_ndarray(format="gray")
            band = gray[int(H * 0.19): int(H * 0.26), W // 4: 3 * W // 4]  # where the card is drawn
            seen[round(t, 1)] = int((band >= 235).sum())
            if t > 1.6:
                break
    assert seen[0.5] > 50 and seen[1.5] < seen[0.5] / 5
