"""Small real inputs the skill tests share: a dubbed, timed, rendered and subtitled tiny episode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from microdrama.domain import Screenplay, Storyboard, parse_model
from microdrama.skill import SkillContext
from microdrama.skills.animatic import AnimaticRenderer
from microdrama.skills.finish_ffmpeg import FfmpegShotFinisher
from microdrama.skills.mix_ffmpeg import FfmpegMixer
from microdrama.skills.storyboard import time_shots
from microdrama.skills.subtitles import SubtitleWriter
from microdrama.stages import (
    EncodeSpec,
    FinishInput,
    MixedSound,
    MixInput,
    StoryboardInput,
    SubtitleFiles,
    SubtitlesInput,
    VisualsInput,
)
from tests.conftest import TINY_SCREENPLAY
from tests.helpers import dub_all
from tests.llm.conftest import _fresh_tier_memory, fake_model, provider  # noqa: F401  (fixtures)

W, H, FPS = 144, 256, 12
CLIP = EncodeSpec(width=W, height=H, fps=FPS, crf=18, preset="ultrafast")
CUT = EncodeSpec(width=W, height=H, fps=FPS)


@dataclass
class TinyEpisode:
    screenplay: Screenplay
    board: Storyboard
    audio: dict[str, str]
    clips: dict[str, str]
    subs: SubtitleFiles
    segments: dict[str, str]
    sound: MixedSound


@pytest.fixture(scope="session")
def tiny_episode(tmp_path_factory) -> TinyEpisode:
    """Every stage's real output for the 3-shot test screenplay at 144x256, 12 fps (built once)."""
    root: Path = tmp_path_factory.mktemp("tiny-episode")
    sp = parse_model(Screenplay, TINY_SCREENPLAY)
    audio, durations = dub_all(sp, root / "audio")
    board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations=durations, fps=FPS))
    clips = {ts.shot.id: AnimaticRenderer()(VisualsInput(
        shot=ts, characters=[sp.series.character(c) for c in ts.shot.characters], encode=CLIP),
        SkillContext(root / "clips")).output.video for ts in board.shots}
    subs = SubtitleWriter()(SubtitlesInput(storyboard=board, width=W, height=H, style={"font_size": 12}),
                            SkillContext(root / "subs")).output
    segments = {ts.shot.id: FfmpegShotFinisher()(FinishInput(
        shot_id=ts.shot.id, clip=clips[ts.shot.id], frames=ts.frames, encode=CUT),
        SkillContext(root / "finished")).output.video for ts in board.shots}
    sound = FfmpegMixer()(MixInput(storyboard=board, line_audio=audio), SkillContext(root / "mix")).output
    return TinyEpisode(sp, board, audio, clips, subs, segments, sound)
