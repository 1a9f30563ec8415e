"""Stems: a tiny rendered run publishes clean picture, dialogue, music and mix under stems/."""

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.domain import Storyboard, load_model, parse_model
from tests.helpers import write_tone_bed

pytestmark = pytest.mark.slow  # renders a (tiny) episode once for the module

CONFIG = {"project_code": "RD-STEMS", "render": {"width": 144, "height": 256, "fps": 5}, "subtitles": {"font_size": 12},
          "qa": {"dub_qa": "off"}, "labels": {"enabled": False}}  # 144 px is below the cut's visible-mark check


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prefect_harness) -> Path:
    from tests.conftest import TINY_SCREENPLAY

    root = tmp_path_factory.mktemp("stems")
    (root / "screenplay.yaml").write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    write_tone_bed(root / "bed.wav")  # a 2-second tone as the music bed
    config = parse_model(ProjectConfig, {**CONFIG, "music": [{"file": str(root / "bed.wav"), "licence": "made here"}]})
    from microdrama.pipelines.episode import episode_flow

    summary = episode_flow(source=root / "screenplay.yaml", config=config, out_dir=root / "out", run_name="ep1")
    return Path(summary.run_dir)


def _samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels()) == (48000, 1)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)


def _packets(path: str | Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def _inputs(run_dir: Path):
    from microdrama.export import clips_in_cut

    board = load_model(Storyboard, run_dir / "storyboard.json")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    clips = clips_in_cut(manifest["takes"]["takes"])
    audio = {c.line_id: str(run_dir / "audio" / f"{c.line_id}.wav") for c in board.cues()}
    return board, clips, audio, manifest


def test_the_run_publishes_clean_picture_joined_by_stream_copy(run_dir):
    from microdrama.media import probe

    board, clips, _, _ = _inputs(run_dir)
    picture = run_dir / "stems" / "picture.mp4"
    info = probe(picture)
    assert (info.width, info.height, info.audio_streams) == (144, 256, 0)
    # no re-encode: the picture's packets are the clean clips' packets, shot after shot, each take (made in whole
    # seconds) cut at its shot's last frame
    assert any(len(_packets(clips[ts.shot.id])) > ts.frames for ts in board.shots)
    assert _packets(picture) == [p for ts in board.shots for p in _packets(clips[ts.shot.id])[:ts.frames]]
    assert len(_packets(picture)) == sum(ts.frames for ts in board.shots)


def test_dialogue_music_and_mix_stems_are_the_length_of_the_cut_and_hold_what_they_name(run_dir):
    from microdrama.finishing import measure_loudness

    board, _, _, manifest = _inputs(run_dir)
    total = round(board.duration_s * 48000)
    dialogue, music, mix = (_samples(run_dir / "stems" / n) for n in ("dialogue.wav", "music.wav", "mix.wav"))
    assert dialogue.size == music.size == mix.size == total
    cues = board.cues()
    first = round(cues[0].start_s * 48000)
    assert not dialogue[:first].any() and np.abs(dialogue[first:first + 4800]).max() > 100  # voices, at the cue
    assert np.abs(music[:4800]).max() > 0 and np.abs(music[-48000:-24000]).max() > 0  # the bed, under all of it
    quiet = [(round(a.end_s * 48000) + 24000, round(b.start_s * 48000) - 4800) for a, b in zip(cues, cues[1:])]
    assert any(e > s for s, e in quiet)  # a gap between lines: the music is there, the dialogue is not
    assert all(not dialogue[s:e].any() for s, e in quiet if e > s)
    # mix.wav is the cut's own mastered mix: at the loudness target the manifest measured on the cut
    assert measure_loudness(run_dir / "stems" / "mix.wav")["integrated_lufs"] == pytest.approx(
        manifest["loudness"]["integrated_lufs"], abs=1.0)
    assert "picture.mp4" in (run_dir / "stems" / "README.txt").read_text(encoding="utf-8")


def test_stems_carry_the_tc260_label_and_pass_the_check_when_labels_are_on(run_dir, tmp_path):
    from microdrama.labels.carriers import read_label
    from microdrama.labels.check import check_file
    from microdrama.labels.tc260 import AigcLabel
    from microdrama.stems import write_stems

    board, clips, audio, _ = _inputs(run_dir)
    config = parse_model(ProjectConfig, {**CONFIG, "labels": {"enabled": True}})
    written = write_stems(tmp_path, board, clips, audio, [], config, run_id="ep1")
    assert [p.name for p in written] == ["picture.mp4", "dialogue.wav", "mix.wav"]  # no bed: no music stem
    for path in written:
        assert AigcLabel.from_json(read_label(path)).produce_id == f"ep1-stem-{path.stem}"
        assert check_file(path, visible=False).ok


def test_a_clip_off_the_encode_spec_is_re_encoded_to_the_storyboard_frames(run_dir, tmp_path):
    from microdrama.media import clip_facts, ffmpeg_exe, probe
    from microdrama.stems import join_picture

    board, clips, _, _ = _inputs(run_dir)
    odd = tmp_path / "odd.mp4"  # another size and one frame too many: what an unfitted model clip looks like
    first = board.shots[0]
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=red:s=160x288:r=5",
                    "-frames:v", str(first.frames + 1), "-pix_fmt", "yuv420p", str(odd)], check=True)
    config = parse_model(ProjectConfig, CONFIG)
    how = join_picture(board, {**clips, first.shot.id: str(odd)}, tmp_path / "picture.mp4", config.render.final_encode())
    assert how == "re-encoded"
    assert clip_facts(tmp_path / "picture.mp4")[1] == sum(ts.frames for ts in board.shots)
    assert (probe(tmp_path / "picture.mp4").width, probe(tmp_path / "picture.mp4").height) == (144, 256)


def test_stems_off_in_the_config_writes_nothing(run_dir, tmp_path):
    from microdrama.stems import write_stems

    board, clips, audio, _ = _inputs(run_dir)
    config = parse_model(ProjectConfig, {**CONFIG, "render": {**CONFIG["render"], "stems": False}})
    assert write_stems(tmp_path, board, clips, audio, [], config) == []
    assert not (tmp_path / "stems").exists()


def test_a_take_shorter_than_its_shot_is_joined_by_copy_with_its_last_frame_held(run_dir, tmp_path):
    """A take kept through a line edit that lengthened its shot: the picture still joins by copy, the clip's
    packets followed by its last frame held (encoded alone at the clips' own settings), exactly the shot long."""
    import av

    from microdrama.media import clip_facts, ffmpeg_exe
    from microdrama.stems import join_picture

    board, clips, _, _ = _inputs(run_dir)
    config = parse_model(ProjectConfig, CONFIG)
    first = board.shots[0]
    short = tmp_path / "short.mp4"  # the first shot's take, 3 frames short: cut from the take itself, by copy
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", clips[first.shot.id], "-c", "copy",
                    "-frames:v", str(first.frames - 3), str(short)], check=True)
    assert clip_facts(short)[1] == first.frames - 3
    picture = tmp_path / "picture.mp4"
    how = join_picture(board, {**clips, first.shot.id: str(short)}, picture, config.render.final_encode(),
                       config.render.clip_encode())
    assert how == "copy"
    assert clip_facts(picture)[1] == sum(ts.frames for ts in board.shots)
    packets = _packets(picture)
    assert packets[: first.frames - 3] == _packets(short)  # the take itself, untouched
    assert packets[first.frames:] == [p for ts in board.shots[1:] for p in _packets(clips[ts.shot.id])[:ts.frames]]
    with av.open(str(picture)) as c:
        frames = [f.to_ndarray(format="gray").astype(int) for _, f in zip(range(first.frames), c.decode(video=0))]
    with av.open(str(short)) as c:
        last = [f.to_ndarray(format="gray").astype(int) for f in c.decode(video=0)][-1]
    for held in frames[first.frames - 3:]:  # the held frames show the take's last frame (within x264's rounding)
        assert np.abs(held - last).mean() < 2.0


def test_a_take_too_short_for_its_shot_is_refused_naming_the_shot(run_dir, tmp_path):
    from microdrama.errors import InputError
    from microdrama.media import ffmpeg_exe
    from microdrama.stems import join_picture

    board, clips, _, _ = _inputs(run_dir)
    first = board.shots[0]
    stub = tmp_path / "stub.mp4"  # 1 frame where the shot needs more than a second's hold
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", clips[first.shot.id], "-c", "copy", "-frames:v", "1",
                    str(stub)], check=True)
    config = parse_model(ProjectConfig, CONFIG)
    assert first.frames - 1 > config.render.fps  # the take is more than the 1-s hold short
    with pytest.raises(InputError, match=f"stems: the clip of shot\\(s\\) {first.shot.id} .*too short"):
        join_picture(board, {**clips, first.shot.id: str(stub)}, tmp_path / "picture.mp4",
                     config.render.final_encode(), config.render.clip_encode())
    assert not (tmp_path / "picture.mp4").exists()
