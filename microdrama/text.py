"""Text measured in pixels: the CJK font, and line wrapping for mixed Chinese and Latin text.

Subtitles, panels, marks and cards all measure text with the same Noto Sans SC font that draws
it, so a row that was measured to fit is a row that fits when burned in.
"""

from __future__ import annotations

import re
from functools import lru_cache

from PIL import ImageFont

from microdrama.media import cjk_font_path


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size)


# A wrap unit is one CJK character, or a Latin word with its trailing spaces.
_UNIT = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+\s*|\s+")
# Characters that must not start a row (CJK 禁则 and Latin closing punctuation).
NO_ROW_START = set("，。！？、；：）」』》〉】…—,.!?;:)]}'\"”’")


def wrap_text(text: str, fnt: ImageFont.FreeTypeFont, max_width: float, balanced: bool = False) -> list[str]:
    """Pixel-measured wrapping for mixed Chinese/Latin text.

    Latin words stay whole unless a word alone is wider than a row (then it is cut between
    letters), CJK text breaks between characters, and closing punctuation hangs at the end of a row
    rather than start the next one — by one or two marks at most, so a run of "！！！…" still wraps
    inside the frame. With `balanced`, rows are evened out (subtitles read better as two equal rows).
    """
    text = text.strip()
    full = fnt.getlength(text)
    if full <= max_width:
        return [text]
    units = [piece for unit in _UNIT.findall(text) for piece in _cut_to_width(unit, fnt, max_width)]
    hang = fnt.size  # room for a mark that hangs after a full row

    def greedy(target: float) -> list[str]:
        rows: list[str] = []
        current = ""
        for unit in units:
            candidate = current + unit
            fits = fnt.getlength(candidate.rstrip()) <= target
            hangs = unit.strip() in NO_ROW_START and fnt.getlength(current.rstrip()) <= target + hang
            if not current or fits or hangs:
                current = candidate
            else:
                rows.append(current.rstrip())
                current = unit.lstrip()
        return rows + [current.rstrip()]

    filled = greedy(max_width)
    if not balanced:
        return filled
    even = greedy(min(max_width, full / len(filled) * 1.08))
    return even if len(even) <= len(filled) else filled


def _cut_to_width(unit: str, fnt: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """A unit wider than a whole row (a 72-letter word, a URL) cut between characters; others as they are."""
    if fnt.getlength(unit.rstrip()) <= max_width:
        return [unit]
    pieces, current = [], ""
    for ch in unit:
        if current and fnt.getlength((current + ch).rstrip()) > max_width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    return pieces + [current] if current else pieces
