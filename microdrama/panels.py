"""Previz panel drawing shared by the storyboard sheet and the animatic renderer.

A panel is a readable sketch of the shot, not an attempt at a picture: a set coloured by time of
day, characters as coloured placeholders with name tags, framed by shot size (an extreme wide
shot shows small full figures, a close-up fills the frame with one head).
"""

from __future__ import annotations

import hashlib

from PIL import Image, ImageDraw

from microdrama.domain import Character, ShotSize, TimeOfDay
from microdrama.text import drawable_text, font

SKY = {
    TimeOfDay.day: ((128, 176, 226), (232, 226, 208)),
    TimeOfDay.dusk: ((58, 40, 92), (238, 146, 96)),
    TimeOfDay.night: ((8, 12, 36), (44, 54, 96)),
    TimeOfDay.interior: ((66, 52, 48), (168, 140, 112)),
}
# Height of a character's head as a fraction of the frame height, by shot size.
HEAD_SCALE = {
    ShotSize.extreme_wide: 0.035,
    ShotSize.wide: 0.06,
    ShotSize.medium: 0.12,
    ShotSize.close_up: 0.26,
    ShotSize.extreme_close_up: 0.5,
}


def _rng(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16)


def character_color(character: Character) -> tuple[int, int, int]:
    if character.color:
        h = character.color.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    palette = [(214, 76, 76), (76, 132, 214), (90, 170, 110), (200, 150, 60), (150, 100, 190), (60, 170, 170)]
    return palette[_rng(character.id) % len(palette)]


def draw_set(size: tuple[int, int], location: str, time_of_day: TimeOfDay) -> Image.Image:
    """Background: a gradient sky or wall and a simple skyline/window set, stable per location."""
    w, h = size
    top, bottom = SKY[time_of_day]
    grad = Image.linear_gradient("L").resize((w, h))
    img = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), grad)
    draw = ImageDraw.Draw(img)
    seed = _rng(location)
    horizon = int(h * 0.64)
    if time_of_day == TimeOfDay.interior:
        for i in range(3):  # window frames on the back wall
            x0 = int(w * (0.08 + 0.31 * i))
            draw.rectangle([x0, int(h * 0.18), x0 + int(w * 0.22), int(h * 0.45)], outline=(230, 210, 170), width=max(2, w // 160))
    else:
        x = 0
        while x < w:  # skyline
            bw = int(w * (0.06 + ((seed >> (x % 17)) % 9) / 90))
            bh = int(h * (0.12 + ((seed >> (x % 13)) % 23) / 70))
            shade = 30 if time_of_day == TimeOfDay.night else 70
            draw.rectangle([x, horizon - bh, x + bw, horizon], fill=(shade, shade + 8, shade + 24))
            if time_of_day in (TimeOfDay.night, TimeOfDay.dusk):
                for wy in range(horizon - bh + 8, horizon - 8, max(6, h // 90)):
                    for wx in range(x + 5, x + bw - 5, max(6, w // 60)):
                        if (wx * 7 + wy * 3 + seed) % 5 == 0:
                            draw.rectangle([wx, wy, wx + max(2, w // 300), wy + max(2, h // 400)], fill=(250, 220, 140))
            x += bw + max(2, w // 200)
    floor = tuple(max(0, c - 40) for c in bottom)
    draw.rectangle([0, horizon, w, h], fill=floor)
    return img


def draw_characters(img: Image.Image, characters: list[Character], shot_size: ShotSize) -> None:
    """Placeholders: head, shoulders, eyes and a name tag; framing from the shot size."""
    w, h = img.size
    draw = ImageDraw.Draw(img)
    if not characters:
        # An insert shot (a phone, a letter, a clock): a glowing object in the centre.
        cw, ch = int(w * 0.42), int(h * 0.34)
        x0, y0 = (w - cw) // 2, int(h * 0.36)
        draw.rounded_rectangle([x0, y0, x0 + cw, y0 + ch], radius=w // 30, fill=(24, 24, 30), outline=(240, 240, 255), width=max(3, w // 120))
        draw.rounded_rectangle([x0 + cw // 12, y0 + ch // 10, x0 + cw * 11 // 12, y0 + ch * 8 // 10], radius=w // 60, fill=(190, 220, 255))
        return
    head = int(h * HEAD_SCALE[shot_size])
    n = len(characters)
    feet = int(h * (0.80 if shot_size in (ShotSize.extreme_wide, ShotSize.wide) else 1.0))
    tags = []
    for i, c in enumerate(characters):
        cx = int(w * (i + 1) / (n + 1))
        cy = feet - int(head * 5.2) if shot_size in (ShotSize.extreme_wide, ShotSize.wide) else int(h * (0.42 if shot_size != ShotSize.extreme_close_up else 0.48))
        color = character_color(c)
        body_w = int(head * 1.9)
        draw.rounded_rectangle([cx - body_w // 2, cy + int(head * 0.55), cx + body_w // 2, cy + int(head * 5.2)], radius=head // 2, fill=color)
        draw.ellipse([cx - head // 2, cy - head // 2, cx + head // 2, cy + head // 2], fill=(236, 204, 178), outline=color, width=max(2, head // 14))
        eye = max(2, head // 12)
        for ex in (cx - head // 5, cx + head // 5):
            draw.ellipse([ex - eye, cy - eye, ex + eye, cy + eye], fill=(40, 30, 30))
        tags.append((cx, cy, drawable_text(c.name, warn=False)[0]))  # a 🙂 in a name would draw as a box
    # Name tags last, so a neighbour's body never covers them; shrunk to fit each character's column.
    column = w / (n + 1)
    for cx, cy, name in tags:
        size = max(14, min(int(h * 0.03), head // 2 if head > 40 else 18))
        while size > 10 and font(size).getlength(name) > column * 0.95:
            size -= 1
        tag = font(size)
        label_y = min(h - tag.size * 2, cy + int(head * 0.75))
        draw.text((cx, label_y), name, font=tag, fill=(255, 255, 255), anchor="mt", stroke_width=max(1, tag.size // 10), stroke_fill=(0, 0, 0))


def draw_scene(
    size: tuple[int, int], location: str, time_of_day: TimeOfDay, characters: list[Character], shot_size: ShotSize
) -> Image.Image:
    img = draw_set(size, location, time_of_day)
    draw_characters(img, characters, shot_size)
    return img
