"""Storyboard: time every shot from its dialogue and draw a contact sheet a person can review.

The storyboard is the episode's timeline. Shots are timed from the *measured* length of each
dubbed line when dubbing has run (estimated from text length otherwise), quantised to whole
frames, so visuals, subtitles and compose all agree to the frame.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math

from PIL import Image, ImageDraw

from microdrama.domain import (
    NARRATOR,
    Character,
    LineCue,
    Screenplay,
    ShotSize,
    Storyboard,
    TimedShot,
    TimeOfDay,
    estimate_speech_seconds,
)
from microdrama.errors import InputError
from microdrama.files import atomic_path, atomic_write_text
from microdrama.html_fonts import FONT_STACK, embed_font
from microdrama.panels import draw_scene
from microdrama.skill import Skill, SkillContext
from microdrama.stages import NoOptions, StoryboardInput, StoryboardOutput
from microdrama.text import drawable_text, font, wrap_text


def time_shots(inputs: StoryboardInput) -> tuple[Storyboard, int]:
    sp = inputs.screenplay
    fps = inputs.fps
    shots: list[TimedShot] = []
    frame_cursor = 0
    estimated = 0
    for scene, shot in sp.shots():
        start = frame_cursor / fps
        t = inputs.lead_in_s
        cues = []
        for i, line in enumerate(shot.lines):
            line_id = shot.line_id(i)
            dur = inputs.line_durations.get(line_id)
            if dur is None:
                dur = estimate_speech_seconds(line.text, sp.series.language)
                estimated += 1
            cues.append(
                LineCue(line_id=line_id, speaker=line.speaker, text=line.text, emotion=line.emotion,
                        start_s=round(start + t, 4), end_s=round(start + t + dur, 4),
                        shot_start_s=round(t, 4), shot_end_s=round(t + dur, 4))
            )
            t += dur + inputs.gap_s
        needed = (t - inputs.gap_s + inputs.tail_s) if cues else 0.0
        frames = math.ceil(max(shot.min_duration_s, needed) * fps - 1e-6)
        shots.append(
            TimedShot(shot=shot, scene_id=scene.id, location=scene.location, time_of_day=scene.time_of_day,
                      start_s=round(start, 4), duration_s=round(frames / fps, 4), frames=frames, cues=cues)
        )
        frame_cursor += frames
    board = Storyboard(
        episode_number=sp.episode.number, title=sp.episode.title, language=sp.series.language, fps=fps, shots=shots
    )
    return board, estimated


class StoryboardSkill(Skill[StoryboardInput, StoryboardOutput, NoOptions]):
    name = "storyboard"
    stage = "storyboard"
    version = "4"  # 3: text wraps between words; characters the font lacks are dropped. 4: HTML embeds its font
    backend = "rule-based timing + Pillow contact sheet"
    description = "Times shots from dubbed line lengths (frame-exact) and draws a PNG/HTML contact sheet."
    Input = StoryboardInput
    Output = StoryboardOutput

    def check_inputs(self, inputs: StoryboardInput, options: NoOptions) -> None:
        known = {ln.id for ln in inputs.screenplay.spoken_lines()}
        unknown = sorted(set(inputs.line_durations) - known)
        if unknown:
            raise InputError(f"line_durations names lines that are not in the screenplay: {', '.join(unknown[:5])}")
        bad = {k: v for k, v in inputs.line_durations.items() if not (0 < v < 60)}
        if bad:
            raise InputError(f"line_durations must be between 0 and 60 seconds; got {bad}")

    def run(self, inputs: StoryboardInput, options: NoOptions, ctx: SkillContext) -> tuple[StoryboardOutput, dict[str, float]]:
        board, estimated = time_shots(inputs)
        out = StoryboardOutput(storyboard=board)
        quantities = {"shots": float(len(board.shots)), "lines_estimated": float(estimated)}
        if inputs.contact_sheet:
            thumbs = [self._thumbnail(inputs.screenplay, ts) for ts in board.shots]
            png = ctx.path("storyboard.png")
            sheet = self._sheet(inputs.screenplay, board, thumbs)
            with atomic_path(png) as tmp:
                sheet.save(tmp, format="PNG")  # optimize=True: 4x the time for 5% fewer bytes, on every edit
            html_path = ctx.path("storyboard.html")
            atomic_write_text(html_path, embed_font(self._html(inputs.screenplay, board, thumbs)))
            out.sheet_png, out.sheet_html = str(png), str(html_path)
            quantities["images"] = 1.0
        return out, quantities

    # -- drawing ---------------------------------------------------------------------------------

    THUMB = (270, 480)
    CELL_W, TEXT_H, COLS, MARGIN = 300, 330, 4, 24

    def _thumbnail(self, sp: Screenplay, ts: TimedShot) -> tuple[Image.Image, str]:
        """The shot's scene drawn small, and as a PNG data URL for the page."""
        chars = tuple(sp.series.character(cid).model_dump_json() for cid in ts.shot.characters)
        return _drawn_thumbnail(self.THUMB, ts.location, ts.time_of_day, chars, ts.shot.shot_size)

    def _speaker(self, sp: Screenplay, speaker: str) -> str:
        if speaker == NARRATOR:
            return "旁白" if sp.series.language == "zh" else "Narrator"
        return sp.series.character(speaker).name

    def _sheet(self, sp: Screenplay, board: Storyboard, thumbs: list[tuple[Image.Image, str]]) -> Image.Image:
        rows = math.ceil(len(thumbs) / self.COLS)
        header = 110
        cell_h = self.THUMB[1] + self.TEXT_H
        width = self.COLS * self.CELL_W + 2 * self.MARGIN
        sheet = Image.new("RGB", (width, header + rows * cell_h + self.MARGIN), (250, 248, 244))
        draw = ImageDraw.Draw(sheet)
        draw.text((self.MARGIN, 20), f"{sp.series.title} · {board.title}", font=font(40), fill=(20, 20, 20))
        draw.text((self.MARGIN, 70), f"Episode {board.episode_number} · {len(board.shots)} shots · "
                  f"{board.duration_s:.1f} s · storyboard (previz)", font=font(22), fill=(90, 90, 90))
        small, tiny = font(18), font(16)
        for i, (ts, thumb) in enumerate(zip(board.shots, thumbs)):
            x = self.MARGIN + (i % self.COLS) * self.CELL_W
            y = header + (i // self.COLS) * cell_h
            sheet.paste(thumb[0], (x + (self.CELL_W - self.THUMB[0]) // 2, y))
            ty = y + self.THUMB[1] + 8
            draw.text((x + 15, ty), f"{ts.shot.id}  {ts.start_s:.1f}–{ts.start_s + ts.duration_s:.1f}s",
                      font=small, fill=(20, 20, 20))
            draw.text((x + 15, ty + 24), f"{ts.shot.shot_size.value} · {ts.shot.camera_move.value}",
                      font=tiny, fill=(110, 70, 40))
            ty += 50
            for cue in ts.cues:
                said = drawable_text(f"{self._speaker(sp, cue.speaker)}：{cue.text}", warn=False)[0]
                for row in wrap_text(said, tiny, self.CELL_W - 30)[:3]:
                    if ty > y + cell_h - 24:
                        break
                    draw.text((x + 15, ty), row, font=tiny, fill=(40, 40, 40))
                    ty += 20
        return sheet

    def _html(self, sp: Screenplay, board: Storyboard, thumbs: list[tuple[Image.Image, str]]) -> str:
        esc = html.escape
        cells = []
        for ts, (_, data) in zip(board.shots, thumbs):
            lines = "".join(
                f"<li><b>{esc(self._speaker(sp, c.speaker))}</b> <i>({c.emotion.value})</i> {esc(c.text)} "
                f"<span class=t>{c.start_s:.2f}–{c.end_s:.2f}s</span></li>"
                for c in ts.cues
            )
            cells.append(
                f"<figure><img src='{data}' alt='{esc(ts.shot.id)}'>"
                f"<figcaption><b>{esc(ts.shot.id)}</b> {ts.start_s:.2f}–{ts.start_s + ts.duration_s:.2f}s · "
                f"{ts.shot.shot_size.value} · {ts.shot.camera_move.value}<br><small>{esc(ts.location)}</small>"
                f"<p class=p>{esc(ts.shot.visual_prompt)}</p><ul>{lines}</ul></figcaption></figure>"
            )
        lang = "zh-CN" if board.language == "zh" else "en"
        return f"""<!doctype html><html lang="{lang}"><meta charset="utf-8">
<title>{esc(sp.series.title)} · {esc(board.title)} · storyboard</title>
<style>body{{font-family:{FONT_STACK};margin:24px;background:#faf8f4;color:#222}}
main{{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:18px}}
figure{{margin:0;background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 3px #0002}}
img{{width:100%;border-radius:4px}} ul{{padding-left:18px;font-size:14px}} .t{{color:#888;font-size:12px}}
.p{{color:#7a4a20;font-size:13px}}</style>
<h1>{esc(sp.series.title)} · {esc(board.title)}</h1>
<p>Episode {board.episode_number} · {len(board.shots)} shots · {board.duration_s:.1f} s ·
hook: {esc(sp.episode.hook)} · cliffhanger: {esc(sp.episode.cliffhanger)}</p>
<main>{''.join(cells)}</main></html>
"""


@functools.lru_cache(maxsize=256)
def _drawn_thumbnail(size: tuple[int, int], location: str, time_of_day: TimeOfDay, characters: tuple[str, ...],
                     shot_size: ShotSize) -> tuple[Image.Image, str]:
    """Drawn and encoded once per process: every edit redraws the sheet (its timings and lines), seldom a scene.
    The image is shared: callers paste it, never draw on it."""
    img = draw_scene(size, location, time_of_day, [Character.model_validate_json(c) for c in characters], shot_size)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return img, "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
