"""Subtitles: SRT and ASS timed from the dubbed audio, wrapped to fit a vertical safe area.

One subtitle event per spoken line, starting when the voice starts and ending when it stops
(rounded inward to 10 ms, the ASS resolution). Wrapping is ours, not the renderer's: rows are
measured in pixels with the same Noto Sans SC font that burns them in, balanced in length, and
CJK closing punctuation never starts a row (禁则). libass auto-wrapping is switched off so the
burned-in cut shows exactly the rows we measured.
"""

from __future__ import annotations

import math

import pysubs2
from pydantic import BaseModel, Field

from microdrama.domain import Storyboard
from microdrama.errors import InputError
from microdrama.panels import font, wrap_text
from microdrama.skill import Skill, SkillContext, atomic_write_text

FONT_NAME = "Noto Sans SC"


class SubtitleInput(BaseModel):
    storyboard: Storyboard
    width: int = Field(1080, ge=64, description="video width the subtitles are laid out for")
    height: int = Field(1920, ge=64, description="video height the subtitles are laid out for")
    font_size: int = Field(60, ge=12, le=200, description="font size in pixels at the video's resolution")
    side_margin: float = Field(0.1, ge=0, le=0.3, description="left/right safe margin as a fraction of width")
    bottom_margin: float = Field(
        0.17, ge=0, le=0.5, description="distance of the last row from the bottom, as a fraction of height "
        "(keeps subtitles above the platform's buttons and captions)"
    )
    max_rows: int = Field(3, ge=1, le=4, description="rows per event before the text is refused as too long")
    alignment: dict[str, list[AlignedWord]] = Field(
        default_factory=dict, description="line id -> words heard by Whisper: refines timing, splits long lines")
    split_rows: int = Field(2, ge=1, le=4, description="with alignment, lines wrapping to more rows become several events")
    secondary: dict[str, str] = Field(default_factory=dict, description="line id -> translation (bilingual subtitles)")
    secondary_font_size: int = Field(40, ge=10, le=200)
    basename: str = Field("episode", pattern=r"^[A-Za-z0-9_-]+$", description="file name stem for .srt/.ass")


class SubEvent(BaseModel):
    """One subtitle event: when it shows (in the episode and in its shot) and its wrapped rows."""

    line_id: str = ""
    start_s: float
    end_s: float
    shot_start_s: float = 0.0
    shot_end_s: float = 0.0
    rows: list[str]
    secondary_rows: list[str] = Field(default_factory=list, description="the translation, shown smaller below")


class AlignedWord(BaseModel):
    """A word heard in a line's own audio (seconds from the start of that line's WAV)."""

    start: float
    end: float
    word: str


class SubtitleFiles(BaseModel):
    srt: str
    ass: str
    events: list[SubEvent] = Field(description="every event with its timing and wrapped rows, in order")


def build_ass(events: list[SubEvent], width: int, height: int, font_size: int, side_margin: float,
              bottom_margin: float, title: str = "", secondary_font_size: int = 40) -> pysubs2.SSAFile:
    """An ASS file in the house style; also used to burn subtitles into single shots."""
    subs = pysubs2.SSAFile()
    subs.info.update({"PlayResX": str(width), "PlayResY": str(height), "WrapStyle": "2",
                      "ScaledBorderAndShadow": "yes", "Title": title})
    margin_lr = int(width * side_margin)
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontname=FONT_NAME, fontsize=font_size, primarycolor=pysubs2.Color(255, 255, 255),
        outlinecolor=pysubs2.Color(0, 0, 0), backcolor=pysubs2.Color(0, 0, 0, 128), bold=False,
        outline=max(2, font_size // 15), shadow=1, alignment=pysubs2.Alignment.BOTTOM_CENTER,
        marginl=margin_lr, marginr=margin_lr, marginv=int(height * bottom_margin),
    )
    for ev in events:
        start_ms = math.ceil(ev.start_s * 100 - 1e-6) * 10  # inward to the 10 ms ASS grid
        end_ms = math.floor(ev.end_s * 100 + 1e-6) * 10
        text = r"\N".join(ev.rows)
        if ev.secondary_rows:  # bilingual: the translation stacked below, smaller and tinted, same safe area
            text += r"\N{\fs%d\c&H9BE7FF&}" % secondary_font_size + r"\N".join(ev.secondary_rows)
        subs.append(pysubs2.SSAEvent(start=start_ms, end=max(end_ms, start_ms + 10), text=text))
    return subs


def wrap_rows(text: str, max_width: float, size: int) -> list[str]:
    """Balanced, pixel-measured rows in the font that burns the subtitles in."""
    return wrap_text(text, font(size), max_width, balanced=True)


class SubtitleWriter(Skill[SubtitleInput, SubtitleFiles]):
    name = "subtitles"
    stage = "subtitles"
    version = "1"
    backend = "pysubs2 + Pillow text measurement"
    description = "Writes SRT and ASS from the storyboard's line cues, CJK-aware wrapping inside the 9:16 safe area."
    Input = SubtitleInput
    Output = SubtitleFiles

    def check_inputs(self, inputs: SubtitleInput) -> None:
        max_width = inputs.width * (1 - 2 * inputs.side_margin)
        for cue in inputs.storyboard.cues():
            if inputs.alignment.get(cue.line_id):
                continue  # aligned lines are split into events of `split_rows` rows
            rows = wrap_rows(cue.text, max_width, inputs.font_size)
            if len(rows) > inputs.max_rows:
                raise InputError(
                    f"line {cue.line_id} needs {len(rows)} subtitle rows (max_rows={inputs.max_rows}): "
                    f"{cue.text!r}. Split it into two lines in the screenplay, or lower font_size."
                )

    def run(self, inputs: SubtitleInput, ctx: SkillContext) -> tuple[SubtitleFiles, dict[str, float]]:
        max_width = inputs.width * (1 - 2 * inputs.side_margin)
        events: list[SubEvent] = []
        for cue in inputs.storyboard.cues():
            second = wrap_rows(inputs.secondary[cue.line_id], max_width, inputs.secondary_font_size) \
                if cue.line_id in inputs.secondary else []
            for text, off_start, off_end in self._pieces(cue, inputs, max_width):
                events.append(SubEvent(
                    line_id=cue.line_id, start_s=round(cue.start_s + off_start, 4), end_s=round(cue.start_s + off_end, 4),
                    shot_start_s=round(cue.shot_start_s + off_start, 4), shot_end_s=round(cue.shot_start_s + off_end, 4),
                    rows=wrap_rows(text, max_width, inputs.font_size), secondary_rows=second))
        subs = build_ass(events, inputs.width, inputs.height, inputs.font_size, inputs.side_margin,
                         inputs.bottom_margin, inputs.storyboard.title, inputs.secondary_font_size)
        srt, ass = ctx.path(f"{inputs.basename}.srt"), ctx.path(f"{inputs.basename}.ass")
        atomic_write_text(srt, subs.to_string("srt"))
        atomic_write_text(ass, subs.to_string("ass"))
        return SubtitleFiles(srt=str(srt), ass=str(ass), events=events), {"subtitle_events": float(len(subs))}

    def _pieces(self, cue, inputs: SubtitleInput, max_width: float) -> list[tuple[str, float, float]]:
        """(text, start, end) offsets within the line. Whisper's words narrow the timing to the voice,
        and a line too long for `split_rows` rows is split at word boundaries."""
        length = cue.end_s - cue.start_s
        words = inputs.alignment.get(cue.line_id) or []
        if not words:
            return [(cue.text, 0.0, length)]
        start = min(max(0.0, words[0].start), length)
        end = max(start + 0.01, min(length, words[-1].end))
        rows = wrap_rows(cue.text, max_width, inputs.font_size)
        script = cue.text.split() if cue.text.isascii() else list(cue.text)
        if len(rows) <= inputs.split_rows or len(script) < 2:
            return [(cue.text, start, end)]
        pieces = -(-len(rows) // inputs.split_rows)
        joiner = " " if cue.text.isascii() else ""
        size = -(-len(script) // pieces)
        chunks = [script[i:i + size] for i in range(0, len(script), size)]
        exact = len(words) == len(script)  # Whisper heard every word: use its times, else share by length
        out, used = [], 0
        total = sum(len(joiner.join(c)) for c in chunks)
        cursor = start
        for chunk in chunks:
            if exact:
                s, e = words[used].start, words[used + len(chunk) - 1].end
            else:
                s, e = cursor, cursor + (end - start) * len(joiner.join(chunk)) / total
            out.append((joiner.join(chunk), max(start, s), min(end, max(e, s + 0.01))))
            used += len(chunk)
            cursor = e
        return out
