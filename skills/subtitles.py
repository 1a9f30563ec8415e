"""Subtitles: SRT and ASS timed from the dubbed audio, wrapped to fit a vertical safe area.

One subtitle event per spoken line, starting when the voice starts and ending when it stops
(rounded inward to 10 ms, the ASS resolution). Wrapping is ours, not the renderer's: rows are
measured in pixels with the same Noto Sans SC font that burns them in, balanced in length, and
CJK closing punctuation never starts a row (禁则). libass auto-wrapping is switched off so the
burned-in cut shows exactly the rows we measured.
"""

from __future__ import annotations

from microdrama.errors import InputError
from microdrama.files import atomic_write_text
from microdrama.finishing import build_ass, subtitle_rows
from microdrama.skill import Skill, SkillContext
from microdrama.stages import NoOptions, SubEvent, SubtitleFiles, SubtitlesInput
from microdrama.text import break_units


class SubtitleWriter(Skill[SubtitlesInput, SubtitleFiles, NoOptions]):
    name = "subtitles"
    stage = "subtitles"
    version = "4"  # 3: rows break between words (jieba for Chinese); emoji dropped. 4: a line's length from its
    #                shot's times, so moving shots later does not re-finish them
    backend = "pysubs2 + Pillow text measurement"
    description = "Writes SRT and ASS from the storyboard's line cues, CJK-aware wrapping inside the 9:16 safe area."
    Input = SubtitlesInput
    Output = SubtitleFiles

    def check_inputs(self, inputs: SubtitlesInput, options: NoOptions) -> None:
        max_width = inputs.width * (1 - 2 * inputs.style.side_margin)
        for cue in inputs.storyboard.cues():
            if inputs.alignment.get(cue.line_id):
                continue  # aligned lines are split into events of `split_rows` rows
            rows = subtitle_rows(cue.text, max_width, inputs.style.font_size)
            if len(rows) > inputs.max_rows:
                raise InputError(
                    f"line {cue.line_id} needs {len(rows)} subtitle rows (max_rows={inputs.max_rows}): "
                    f"{cue.text!r}. Split it into two lines in the screenplay, or lower font_size."
                )

    def run(self, inputs: SubtitlesInput, options: NoOptions, ctx: SkillContext) -> tuple[SubtitleFiles, dict[str, float]]:
        max_width = inputs.width * (1 - 2 * inputs.style.side_margin)
        events: list[SubEvent] = []
        for cue in inputs.storyboard.cues():
            second = subtitle_rows(inputs.secondary[cue.line_id], max_width, inputs.style.secondary_font_size) \
                if cue.line_id in inputs.secondary else []
            for text, off_start, off_end in self._pieces(cue, inputs, max_width):
                events.append(SubEvent(
                    line_id=cue.line_id, start_s=round(cue.start_s + off_start, 4), end_s=round(cue.start_s + off_end, 4),
                    shot_start_s=round(cue.shot_start_s + off_start, 4), shot_end_s=round(cue.shot_start_s + off_end, 4),
                    rows=subtitle_rows(text, max_width, inputs.style.font_size), secondary_rows=second))
        subs = build_ass(events, inputs.width, inputs.height, inputs.style, inputs.storyboard.title)
        srt, ass = ctx.path(f"{inputs.basename}.srt"), ctx.path(f"{inputs.basename}.ass")
        atomic_write_text(srt, subs.to_string("srt"))
        atomic_write_text(ass, subs.to_string("ass"))
        return SubtitleFiles(srt=str(srt), ass=str(ass), events=events), {"subtitle_events": float(len(subs))}

    def _pieces(self, cue, inputs: SubtitlesInput, max_width: float) -> list[tuple[str, float, float]]:
        """(text, start, end) offsets within the line. Whisper's words narrow the timing to the voice,
        and a line too long for `split_rows` rows is split at word boundaries."""
        length = round(cue.shot_end_s - cue.shot_start_s, 4)  # from the shot's own times: a line keeps its length
        #                                                         to the last digit when earlier shots move
        words = inputs.alignment.get(cue.line_id) or []
        if not words:
            return [(cue.text, 0.0, length)]
        start = min(max(0.0, words[0].start), length)
        end = max(start + 0.01, min(length, words[-1].end))
        rows = subtitle_rows(cue.text, max_width, inputs.style.font_size)
        script = break_units(cue.text)  # words (jieba for Chinese), never split inside one
        if len(rows) <= inputs.split_rows or len(script) < 2:
            return [(cue.text, start, end)]
        pieces = -(-len(rows) // inputs.split_rows)
        size = -(-len(script) // pieces)
        chunks = ["".join(script[i:i + size]).strip() for i in range(0, len(script), size)]
        # Whisper heard every space-separated word: use its times; else share the time by length.
        exact = cue.text.isascii() and len(words) == len(cue.text.split())
        out, used = [], 0
        total = sum(len(c) for c in chunks)
        cursor = start
        for chunk in chunks:
            n = len(chunk.split())
            if exact:
                s, e = words[used].start, words[used + n - 1].end
            else:
                s, e = cursor, cursor + (end - start) * len(chunk) / total
            out.append((chunk, max(start, s), min(end, max(e, s + 0.01))))
            used += n
            cursor = e
        return out
