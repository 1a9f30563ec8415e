"""Episode covers: a 9:16 and a 3:4 JPEG from a frame of the episode, titled in the bundled CJK font.

Platforms ask for a cover (封面) beside every upload: 9:16 for the feed, 3:4 for the series page.
The frame is the middle of the first shot that shows a character (a face sells the episode better
than a set), taken from that shot's clean clip so no subtitle is burned across it. A cover is
AI-generated content like the cut, so it carries the same visible mark (at least 5% of its shorter
side, GB 45438-2025 §5.4), is labelled in its metadata when labels are on, and is checked after.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from microdrama.domain import Screenplay, Storyboard
from microdrama.errors import InputError, RenderError
from microdrama.files import atomic_path, atomic_write_text, publish
from microdrama.text import drawable_text, font, wrap_text

SIZES = {"9x16": (1080, 1920), "3x4": (1080, 1440)}


def pick_frame(board: Storyboard, clips: dict[str, str]) -> tuple[str, float]:
    """(shot id, seconds into its clip): the middle of the first shot with a character, else of the first shot."""
    shot = next((ts for ts in board.shots if ts.shot.characters and ts.shot.id in clips), None)
    shot = shot or next((ts for ts in board.shots if ts.shot.id in clips), None)
    if shot is None:
        raise InputError("covers: no shot has a clean clip to take a frame from; render the episode again")
    return shot.shot.id, shot.duration_s / 2


def grab_frame(video: str | Path, at_s: float) -> Image.Image:
    """The first frame at or after `at_s` (the last one if the clip is shorter)."""
    from microdrama.media import frame_at

    return frame_at(video, at_s)


def draw_cover(frame: Image.Image, size: tuple[int, int], title: str, subtitle: str, mark_text: str,
               mark_fraction: float, mark_position: str = "top_right") -> Image.Image:
    """The frame filled to `size`, the title over a dark gradient at the bottom, the AI mark in a top corner."""
    from microdrama.finishing import mark_font_size

    w, h = size
    img = ImageOps.fit(frame, size, method=Image.Resampling.LANCZOS)
    shade = Image.linear_gradient("L").resize((w, int(h * 0.42))).point(lambda v: int(v * 0.8))
    img.paste((0, 0, 0), (0, h - shade.height), shade)
    draw = ImageDraw.Draw(img)
    title_font, sub_font = font(int(w * 0.095)), font(int(w * 0.05))
    rows = wrap_text(drawable_text(title, warn=False)[0], title_font, w * 0.86, balanced=True)[:2]
    y = h - int(h * 0.07) - sub_font.size * 1.4 - title_font.size * 1.25 * len(rows)
    for row in rows:
        draw.text((w // 2, y), row, font=title_font, fill=(255, 255, 255), anchor="mt",
                  stroke_width=max(2, title_font.size // 16), stroke_fill=(0, 0, 0))
        y += title_font.size * 1.25
    draw.text((w // 2, y + sub_font.size * 0.3), drawable_text(subtitle, warn=False)[0], font=sub_font,
              fill=(245, 214, 120), anchor="mt", stroke_width=2, stroke_fill=(0, 0, 0))
    # The visible label, drawn as the cut draws it: white on a translucent box, ink ≥ the configured share.
    shorter = min(w, h)
    mark = font(mark_font_size(mark_text, mark_fraction * shorter))
    margin = int(shorter * 0.04)
    left, top, right, bottom = draw.textbbox((0, 0), mark_text, font=mark)
    x = w - margin - right if mark_position == "top_right" else margin
    pad = mark.size // 5
    box = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 115))
    img.paste(box, (x + left - pad, margin + top - pad), box)
    draw.text((x, margin), mark_text, font=mark, fill=(255, 255, 255))
    return img


def check_visible_mark(path: Path) -> None:
    """The cover's own visible label, measured the way the cut's is: ink ≥ 5% of the shorter side."""
    import numpy as np

    from microdrama.labels.visible import text_band_height

    gray = np.asarray(Image.open(path).convert("L"))
    need = 0.05 * min(gray.shape)
    if text_band_height(gray) < need:
        raise RenderError(f"{path.name}: the visible AI label is under 5% of the shorter side (GB 45438 §5.4)")


RECIPE = ".recipe"  # in a covers folder: what its covers were made from (hidden: not a published file)


def write_covers(run_dir: Path, screenplay: Screenplay, board: Storyboard, takes: list[dict], config,
                 run_id: str = "", sizes: dict[str, tuple[int, int]] = SIZES, folder: Path | None = None,
                 reuse_from: Path | None = None) -> list[Path]:
    """covers/cover-9x16.jpg and covers/cover-3x4.jpg in the run folder (or `cover-NAME.jpg` for each of
    `sizes` in `folder`: a platform's delivery), from the takes in the cut (the run's take log), labelled
    and checked. Covers in `reuse_from` made from the same frame, titles, mark and labels are copied, not made
    again: a line edit does not touch them (they keep the ProduceID of the run that made them)."""
    from microdrama.export import clips_in_cut

    clips = clips_in_cut(takes)
    if not clips:  # a run that recorded no takes (a cut made elsewhere): nothing clean to take a frame from
        return []
    shot_id, at = pick_frame(board, clips)
    zh = screenplay.series.language == "zh"
    subtitle = (f"第{board.episode_number}集 · {board.title}" if zh else f"Episode {board.episode_number} · {board.title}")
    folder = Path(folder or Path(run_dir) / "covers")
    recipe = json.dumps({"frame": [str(Path(clips[shot_id]).resolve()), at], "title": screenplay.series.title,
                         "subtitle": subtitle, "sizes": sizes, "mark": config.mark.model_dump(mode="json"),
                         "labels": config.labels.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False)
    if reuse_from is not None and config.labels.signing is None:  # a signature is always made afresh
        kept = [Path(reuse_from) / f"cover-{name}.jpg" for name in sizes]
        if (Path(reuse_from) / RECIPE).is_file() and (Path(reuse_from) / RECIPE).read_text("utf-8") == recipe \
                and all(p.is_file() for p in kept):
            folder.mkdir(parents=True, exist_ok=True)
            for p in kept:
                publish(p, folder / p.name)
            atomic_write_text(folder / RECIPE, recipe)
            return [folder / p.name for p in kept]
    frame = grab_frame(clips[shot_id], at)
    written = []
    for name, size in sizes.items():
        path = folder / f"cover-{name}.jpg"
        img = draw_cover(frame, tuple(size), screenplay.series.title, subtitle, config.mark.text, config.mark.height_fraction,
                         config.mark.position)
        with atomic_path(path) as tmp:
            img.save(tmp, format="JPEG", quality=90)
        check_visible_mark(path)
        if config.labels.enabled:
            from microdrama.labels.apply import label_file
            from microdrama.labels.check import check_file

            label_file(path, config.labels, produce_id=f"{run_id or Path(run_dir).name}-{path.stem}",
                       title=screenplay.series.title)
            report = check_file(path, require_c2pa=config.labels.require_c2pa,
                                trust_anchors=config.labels.signing.trust_anchors if config.labels.signing else None)
            if not report.ok:
                failed = ", ".join(c.clause for c in report.clauses if not c.ok)
                raise RenderError(f"label check failed for {path.name}: {failed}")
        written.append(path)
    if reuse_from is not None:  # what the next run compares with (a platform delivery is made once)
        atomic_write_text(folder / RECIPE, recipe)
    return written
