"""Lesson 6 — Compose: clips + dialogue + subtitles + the AI mark = the cut.

Why: one ffmpeg filtergraph renders the cut several times faster than compositing frame by frame
in Python (see benchmarks/compose_backends.py), and the visible "AI生成" mark is required by law.
The pipeline goes one step further: it finishes shot by shot and joins without re-encoding, so
an edited line re-renders one shot, not the episode.
"""

from _common import out_dir, short_screenplay
from microdrama.domain import NARRATOR, Voice
from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.animatic import AnimaticRenderer
from microdrama.skills.compose_ffmpeg import FfmpegComposer
from microdrama.skills.dubbing_espeak import EspeakDubbing
from microdrama.skills.mix_ffmpeg import FfmpegMixer
from microdrama.skills.storyboard import time_shots
from microdrama.skills.subtitles import SubtitleWriter
from microdrama.stages import (
    ComposeInput,
    DubbingInput,
    EncodeSpec,
    MixInput,
    StoryboardInput,
    SubtitlesInput,
    SubtitleStyle,
    VisualsInput,
)

W, H, FPS = 360, 640, 15
CLIP = EncodeSpec(width=W, height=H, fps=FPS, crf=18, preset="ultrafast")  # intermediate clips: fast, near-lossless
folder = out_dir("06")
sp = short_screenplay(folder)
audio, durations = {}, {}
for ln in sp.spoken_lines():
    voice = Voice(gender="male") if ln.speaker == NARRATOR else sp.series.character(ln.speaker).voice
    d = EspeakDubbing()(DubbingInput(line_id=ln.id, text=ln.text, language="zh", voice=voice), SkillContext(folder)).output
    audio[ln.id], durations[ln.id] = d.audio, d.duration_s
board, _ = time_shots(StoryboardInput(screenplay=sp, line_durations=durations, fps=FPS))
clips = {s.shot.id: AnimaticRenderer()(VisualsInput(shot=s, characters=[sp.series.character(c) for c in s.shot.characters],
                                                     encode=CLIP), SkillContext(folder)).output.video
         for s in board.shots}
subs = SubtitleWriter()(SubtitlesInput(storyboard=board, width=W, height=H, style=SubtitleStyle(font_size=22)),
                        SkillContext(folder)).output
sound = FfmpegMixer()(MixInput(storyboard=board, line_audio=audio), SkillContext(folder)).output  # lines at their cues
cut = FfmpegComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, subtitles_ass=subs.ass,
                                    encode=EncodeSpec(width=W, height=H, fps=FPS)), SkillContext(folder)).output
print("cut:", cut.video, probe(cut.video))

# Exercise: render the same inputs with the moviepy backend (microdrama.skills.compose_moviepy) and time
# both. Then set mark=AiMark(seconds=3) and check the mark with `microdrama label check`.
