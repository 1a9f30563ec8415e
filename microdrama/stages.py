"""Stage contracts: the typed input and output of every pipeline stage.

Every skill of a stage takes the same input model and returns the same output model, so the
animatic and a video model both take a `VisualsInput` and hand back a `ShotClip`, and a new
backend is a new skill file, not a new dict in the pipeline. Knobs that only one backend has
(a model id, a device, a sampler's steps) go in that skill's own strict `Options`, never here.

All models forbid unknown keys: a typo such as `font_sise` is an error naming the key and the
stage, not a silent default. Picture size and encoder settings are declared once (`FrameSpec`,
`EncodeSpec`) and reused by every stage that encodes.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from microdrama.domain import (
    GAP_S,
    LEAD_IN_S,
    TAIL_S,
    Brief,
    Character,
    Emotion,
    Language,
    Screenplay,
    Storyboard,
    Strict,
    TimedShot,
    Voice,
)
from microdrama.labels.visible import AiMark

FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", description="a file name stem: letters, digits, _ and -")]
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]


class StageModel(Strict):
    """Base of every stage input and output: strict, and it knows which stage it belongs to."""

    stage: ClassVar[str] = ""


# ---- picture and encoder settings, declared once --------------------------------------------------


class FrameSpec(Strict):
    width: int = Field(1080, ge=64, le=4096, multiple_of=2, description="frame width in pixels (even; 9:16 is 1080)")
    height: int = Field(1920, ge=64, le=4096, multiple_of=2, description="frame height in pixels (even; 9:16 is 1920)")
    fps: int = Field(30, ge=1, le=120, description="frames per second")


class EncodeSpec(FrameSpec):
    crf: int = Field(21, ge=0, le=51, description="x264 quality (lower is better and bigger)")
    # superfast by default: every edit re-encodes its shot, and on 2 CPU cores a burned-in 1080x1920 shot encodes
    # 1.6x faster than with veryfast (3.2 vs 5.1 CPU-s for 9 s of the demo) at the same CRF and SSIM (0.995), for
    # about 30% more bytes. Masters meant to be small: veryfast or medium; platforms re-encode uploads anyway.
    preset: X264Preset = Field("superfast", description="x264 preset: ultrafast (fastest, biggest), superfast "
                               "(default), veryfast ... veryslow (slowest, smallest at the same crf)")


# ---- screenplay and localisation ---------------------------------------------------------------------


class ScreenplayInput(StageModel):
    stage: ClassVar[str] = "screenplay"
    brief: Brief = Field(description="the creator's brief")
    pace: float = Field(1.0, gt=0.2, lt=5, description="measured speech seconds per estimated second, from a "
                                                        "first dub; writers that fit a length use it to re-fit")


class LocalizeInput(StageModel):
    stage: ClassVar[str] = "localize"
    screenplay: Screenplay
    target: Language = Field(description="language to localise into: 'en' or 'zh'")


# ---- dubbing -----------------------------------------------------------------------------------------


class DubbingInput(StageModel):
    stage: ClassVar[str] = "dubbing"
    line_id: FileName = Field(description="stable id of the line; names the WAV")
    text: str = Field(min_length=1, description="the words to speak")
    language: Language = Field(description="'zh' or 'en'")
    voice: Voice = Field(description="the speaker's voice")
    emotion: Emotion = Field(Emotion.neutral, description="colours the delivery")


class DubbedLine(StageModel):
    stage: ClassVar[str] = "dubbing"
    line_id: str
    audio: str = Field(description="path of the mono 16-bit WAV")
    duration_s: float
    sample_rate: int
    voice: str = Field(description="the backend's name for the voice that spoke")


# ---- storyboard --------------------------------------------------------------------------------------


class StoryboardInput(StageModel):
    stage: ClassVar[str] = "storyboard"
    screenplay: Screenplay
    line_durations: dict[str, float] = Field(
        default_factory=dict, description="measured seconds per line id (from dubbing); missing lines are estimated"
    )
    fps: int = Field(30, ge=1, le=120, description="frames per second of the final cut")
    lead_in_s: float = Field(LEAD_IN_S, ge=0, le=3, description="silence before a shot's first line")
    gap_s: float = Field(GAP_S, ge=0, le=3, description="pause between lines in a shot")
    tail_s: float = Field(TAIL_S, ge=0, le=5, description="hold after a shot's last line")
    contact_sheet: bool = Field(True, description="also draw storyboard.png and storyboard.html")


class StoryboardOutput(StageModel):
    stage: ClassVar[str] = "storyboard"
    storyboard: Storyboard
    sheet_png: str | None = None
    sheet_html: str | None = None


# ---- visuals and character references ----------------------------------------------------------------

TAKE_STEP_SECONDS = 0.5  # takes are generated in half seconds: on average a quarter second past the shot
TAKE_SLACK_SECONDS = 1.0  # a kept take may run up to this much past that: its tail is cut
TAKE_HOLD_SECONDS = 1.0  # or fall this much short: its last frame is held, and the take record says so


def take_lengths(frames: int, fps: int) -> list[int]:
    """The frame counts a take of a `frames`-long shot may have, in order of preference; the first is the one to
    generate: the shot rounded up to half seconds. A take is a picture of the shot's content, not of its exact
    length, so after a line edit moves the shot's length a take already made is kept — cut at the shot's end
    when it runs up to TAKE_SLACK_SECONDS past that, or holding its last frame when it falls up to
    TAKE_HOLD_SECONDS short — instead of generating (on a model API, paying for) a new one, and its review
    verdict stays with it. A person who wants a take of the new length asks for a redo. (Video APIs sell whole
    seconds: the cloud skill asks for the allowed length that covers the take and cuts it.)"""
    step = max(1, round(fps * TAKE_STEP_SECONDS))
    first = math.ceil(frames / step) * step
    longer = [first + k * step for k in range(1, round(TAKE_SLACK_SECONDS * fps / step) + 1)]
    shorter = [n for n in range(first - step, 0, -step) if frames - n <= TAKE_HOLD_SECONDS * fps]
    return [first, *longer, *shorter]


def take_shot(shot: TimedShot, frames: int, fps: int) -> TimedShot:
    """The shot as a take is generated: re-anchored at 0, without its lines and cues (a picture depends on what
    the camera sees, not on where the shot sits or what is said over it), `frames` long."""
    return shot.model_copy(update={"shot": shot.shot.model_copy(update={"lines": []}), "start_s": 0.0, "cues": [],
                                   "frames": frames, "duration_s": round(frames / fps, 4)})



class VisualsInput(StageModel):
    stage: ClassVar[str] = "visuals"
    shot: TimedShot = Field(description="the shot at the take's length (`take_shot`): the clip may run past the "
                                        "storyboard's shot, whose length finishing cuts it to")
    characters: list[Character] = Field(default_factory=list, description="the characters on screen")
    language: Language = Field("zh", description="language of any caption the backend draws")
    encode: EncodeSpec = Field(default_factory=lambda: EncodeSpec(crf=18, preset="ultrafast"),
                               description="size, rate and x264 settings of the intermediate clip")
    reference_images: dict[str, str] = Field(
        default_factory=dict, description="character id -> reference image (image-to-video backends start from it)")
    take: int = Field(1, ge=1, le=20, description="which take of the shot: each take is its own generation "
                                                  "(another seed); deterministic backends ignore it")


class ShotClip(StageModel):
    stage: ClassVar[str] = "visuals"
    shot_id: str
    video: str = Field(description="path of the silent H.264 clip")
    frames: int
    duration_s: float
    width: int
    height: int
    fps: int
    source: str = Field(description="what made the pixels, e.g. 'animatic (previz)' or a model id")


class KeyframeInput(StageModel):
    stage: ClassVar[str] = "keyframe"
    key: FileName = Field(description="names the image and seeds it, e.g. a character id")
    prompt: str = Field(min_length=1, description="what the image shows")
    width: int | None = Field(None, ge=16, description="image width; empty = the model's default")
    height: int | None = Field(None, ge=16, description="image height; empty = the model's default")


class Keyframe(StageModel):
    stage: ClassVar[str] = "keyframe"
    key: str
    image: str
    seed: int


# ---- transcription -----------------------------------------------------------------------------------


class TranscribeInput(StageModel):
    stage: ClassVar[str] = "transcribe"
    audio: str = Field(description="audio or video file (WAV, MP3, MP4...)")
    language: str | None = Field(None, description="e.g. 'en', 'zh'; empty = detect (multilingual models)")
    word_timestamps: bool = Field(True, description="also time every word")
    chunk_s: float = Field(600.0, ge=10, le=3600, description="transcribe long files in chunks of this length")


class Word(Strict):
    start: float
    end: float
    word: str
    probability: float = 1.0


class Segment(Strict):
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcript(StageModel):
    stage: ClassVar[str] = "transcribe"
    language: str
    language_probability: float | None = None
    duration_s: float
    segments: list[Segment]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


# ---- subtitles ---------------------------------------------------------------------------------------


class AlignedWord(Strict):
    """A word heard in a line's own audio (seconds from the start of that line's WAV)."""

    start: float
    end: float
    word: str


class SubEvent(Strict):
    """One subtitle event: when it shows (in the episode and in its shot) and its wrapped rows."""

    line_id: str = ""
    start_s: float
    end_s: float
    shot_start_s: float = 0.0
    shot_end_s: float = 0.0
    rows: list[str]
    secondary_rows: list[str] = Field(default_factory=list, description="the translation, shown smaller below")


class SubtitleStyle(Strict):
    """How subtitles sit in the 9:16 frame; shared by the subtitle files and the shots they are burned into."""

    font_size: int = Field(60, ge=12, le=200, description="font size in pixels at the video's resolution")
    secondary_font_size: int = Field(40, ge=10, le=200, description="font size of the translation row(s)")
    side_margin: float = Field(0.1, ge=0, le=0.3, description="left/right safe margin as a fraction of width")
    bottom_margin: float = Field(
        0.22, ge=0, le=0.5, description="distance of the last row from the bottom, as a fraction of height "
        "(keeps subtitles above the platform's buttons and captions: the bundled platform presets' bottom UI "
        "bands reach 18-22%)")


class SubtitlesInput(StageModel):
    stage: ClassVar[str] = "subtitles"
    storyboard: Storyboard
    width: int = Field(1080, ge=64, le=4096, description="video width the subtitles are laid out for")
    height: int = Field(1920, ge=64, le=4096, description="video height the subtitles are laid out for")
    style: SubtitleStyle = Field(default_factory=SubtitleStyle)
    max_rows: int = Field(3, ge=1, le=4, description="rows per event before the text is refused as too long")
    alignment: dict[str, list[AlignedWord]] = Field(
        default_factory=dict, description="line id -> words heard by Whisper: refines timing, splits long lines")
    split_rows: int = Field(2, ge=1, le=4, description="with alignment, lines wrapping to more rows become several events")
    secondary: dict[str, str] = Field(default_factory=dict, description="line id -> translation (bilingual subtitles)")
    basename: FileName = Field("episode", description="file name stem for .srt/.ass")


class SubtitleFiles(StageModel):
    stage: ClassVar[str] = "subtitles"
    srt: str
    ass: str
    events: list[SubEvent] = Field(description="every event with its timing and wrapped rows, in order")


# ---- finishing: per shot, then assembled; or the whole cut in one pass ----------------------------------


class FinishInput(StageModel):
    stage: ClassVar[str] = "finish"
    shot_id: FileName
    clip: str = Field(description="the shot's silent clip from the visuals stage")
    clip_frames: int | None = Field(None, gt=0, description="frames in the clip (a take may differ from its shot): "
                                                           "a longer one is cut, a shorter one holds its last frame")
    frames: int = Field(gt=0, description="frames of the finished shot")
    encode: EncodeSpec = Field(default_factory=EncodeSpec, description="size, rate and x264 settings of the segment")
    events: list[SubEvent] = Field(default_factory=list, description="subtitles, timed from the shot's start")
    style: SubtitleStyle = Field(default_factory=SubtitleStyle)
    mark: AiMark = Field(default_factory=AiMark)
    mark_until_s: float | None = Field(None, ge=0, description="None: the whole shot; 0: no mark in this shot")
    opening_text: str | None = Field(None, description="opening card (片头) text, e.g. the filing number")
    opening_until_s: float = Field(0.0, ge=0, description="seconds of this shot that show the opening card")


class FinishedShot(StageModel):
    stage: ClassVar[str] = "finish"
    shot_id: str
    video: str
    frames: int


class Loudness(Strict):
    """Where the final mix lands (EBU R128 / ITU-R BS.1770): short-video platforms normalise to about -14."""

    integrated_lufs: float = Field(-14.0, ge=-36, le=-5, description="integrated loudness target, LUFS")
    true_peak_db: float = Field(-1.0, ge=-9, le=0, description="true-peak ceiling, dBTP")
    loudness_range: float = Field(11.0, ge=1, le=20, description="loudness range target, LU")


class MusicBed(Strict):
    """Music or ambience under part of the cut, from a local file whose licence is on record."""

    file: str = Field(description="audio file (WAV, MP3, FLAC, M4A…); looped or cut to its span")
    licence: str = Field(min_length=3, description="where the right to use it comes from, e.g. 'CC0', "
                                                   "'licensed from X, contract C-12'")
    start_s: float = Field(0.0, ge=0, description="where it starts in the cut")
    end_s: float | None = Field(None, gt=0, description="where it stops; empty = the end of the cut")
    gain_db: float = Field(-20.0, ge=-60, le=0, description="its level under the voices, dB")
    duck_db: float = Field(-12.0, ge=-40, le=0, description="how much it dips while someone speaks, dB")


class MixInput(StageModel):
    """The episode's sound, made beside the pictures: it needs only the storyboard and the dubbed lines."""

    stage: ClassVar[str] = "mix"
    storyboard: Storyboard
    line_audio: dict[str, str] = Field(default_factory=dict, description="line id -> WAV")
    audio_label: Literal["none", "morse"] = Field("none", description="'morse' adds the §5.3 rhythm at the start")
    loudness: Loudness | None = Field(None, description="normalise the mix to this target; None = leave it as mixed")
    music: list[MusicBed] = Field(default_factory=list, description="music or ambience beds under the dialogue")
    basename: FileName = "episode"


class MixedSound(StageModel):
    """The mastered mix as a WAV (stems, QA) and as the AAC the cut carries (muxed by copy, not encoded again)."""

    stage: ClassVar[str] = "mix"
    wav: str = Field(description="the mix, 48 kHz mono 16-bit, exactly as long as the storyboard")
    aac: str = Field(description="the same sound as AAC in an .m4a")
    duration_s: float
    loudness: dict[str, float] | None = Field(
        None, description="integrated LUFS and true peak dBTP, read on the mastered sound as it goes into the AAC "
        "encoder (the AAC the cut carries reads the same within 0.1 LU); None when silent")


class AssembleInput(StageModel):
    stage: ClassVar[str] = "assemble"
    storyboard: Storyboard
    segments: dict[str, str] = Field(description="shot id -> finished segment (same codec settings throughout)")
    sound: MixedSound = Field(description="the mix stage's output: its AAC is muxed by copy")
    width: int = Field(1080, ge=64, le=4096, description="expected frame width of the cut")
    height: int = Field(1920, ge=64, le=4096, description="expected frame height of the cut")
    basename: FileName = "episode"


class ComposeInput(StageModel):
    stage: ClassVar[str] = "compose"
    storyboard: Storyboard
    clips: dict[str, str] = Field(description="shot id -> path of its silent video clip")
    sound: MixedSound = Field(description="the mix stage's output: its AAC is muxed by copy")
    subtitles_ass: str | None = Field(None, description="ASS file to burn in; None for a clean picture")
    opening_text: str | None = Field(None, description="opening card (片头) text, e.g. the filing number")
    opening_seconds: float = Field(3.0, gt=0, le=10, description="how long the opening card shows")
    mark: AiMark = Field(default_factory=AiMark)
    encode: EncodeSpec = Field(default_factory=EncodeSpec, description="size and x264 settings (fps: the storyboard's)")
    basename: FileName = "episode"


class FinalCut(StageModel):
    stage: ClassVar[str] = "cut"
    video: str
    duration_s: float
    frames: int
    dialogue_wav: str = Field(description="the mastered mix the cut carries (the mix stage's WAV)")


# ---- continuity (a series) -------------------------------------------------------------------------


class ContinuityInput(StageModel):
    stage: ClassVar[str] = "continuity"
    screenplays: list[Screenplay] = Field(min_length=1, description="the series' episodes, in order")


class ContinuityIssue(Strict):
    episode: int = Field(ge=1, description="the episode where the break shows")
    shot_id: str | None = Field(None, description="the shot, where one is to blame")
    kind: Literal["name", "look", "prop", "timeline", "repeat", "other"]
    detail: str = Field(min_length=1, description="what breaks, and against which episode")
    found_by: str = Field("rules", description="'rules', or the model that found it")


class ContinuityReport(StageModel):
    stage: ClassVar[str] = "continuity"
    episodes: list[int] = Field(description="the episode numbers checked")
    issues: list[ContinuityIssue] = Field(default_factory=list)


STAGE_INPUTS: dict[str, type[StageModel]] = {
    m.stage: m for m in (ScreenplayInput, LocalizeInput, DubbingInput, StoryboardInput, VisualsInput, KeyframeInput,
                         TranscribeInput, SubtitlesInput, FinishInput, MixInput, AssembleInput, ComposeInput,
                         ContinuityInput)
}


class NoOptions(Strict):
    """A skill without backend-specific knobs: any option is an unknown key."""


