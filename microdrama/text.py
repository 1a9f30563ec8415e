"""Text measured in pixels: the CJK font, and line wrapping for mixed Chinese and Latin text.

Subtitles, panels, marks and cards all measure text with the same Noto Sans SC font that draws
it, so a row that was measured to fit is a row that fits when burned in. Rows break only where a
reader expects: between words (jieba segments Chinese, spaces and hyphens separate Latin), never
inside "Dr. Chen" or "——", and never before closing punctuation (禁则).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from PIL import ImageFont

from microdrama.media import cjk_font_path

log = logging.getLogger(__name__)


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size)


# --- what the font can draw -------------------------------------------------------------------

@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """The code points Noto Sans SC has glyphs for (its cmap); anything else draws as a tofu box."""
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(cjk_font_path()), lazy=True).getBestCmap())


@lru_cache(maxsize=256)
def _warn_once(text: str, dropped: str) -> None:
    log.warning("dropped %s from %r: the subtitle font has no glyph for %s (it would draw as a box)",
                " ".join(dropped), text, "them" if len(dropped) > 1 else "it")


def drawable_text(text: str, warn: bool = True) -> tuple[str, str]:
    """(text without the characters the font cannot draw, the dropped characters).

    Noto Sans SC has no emoji and we ship no emoji font libass can draw, so 🙂 (with its variation
    selector or ZWJ sequence) would burn in as a box: it is dropped instead, and a space it leaves
    doubled, or before a comma, is closed. With `warn`, one warning per distinct line names what was dropped.
    """
    have = _drawable()
    marked = "".join(ch if ord(ch) in have or ch in "\n\t" else "\0" for ch in text)
    if "\0" not in marked:
        return text, ""
    dropped = "".join(dict.fromkeys(ch for ch, m in zip(text, marked) if m == "\0"))
    closing = re.escape("".join(sorted(NO_ROW_START - {"'", '"'})))
    clean = re.sub(rf" ?\0+(?=[ {closing}]|$)", "", marked).replace("\0", "")  # "steal 🙂," -> "steal,"
    clean = re.sub(r"(?<=\S) {2,}(?=\S)", " ", clean).strip()
    visible = "".join(ch for ch in dropped if not _invisible(ch))
    if warn and visible:
        _warn_once(text, visible)
    return clean, dropped


def _invisible(ch: str) -> bool:
    """Joiners, variation selectors and skin-tone modifiers: parts of an emoji, not worth naming."""
    cp = ord(ch)
    return cp in (0x200D, 0x20E3) or 0xFE00 <= cp <= 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F


# --- where a row may break --------------------------------------------------------------------

_HAN = "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# CJK and fullwidth punctuation (fullwidth letters and digits ０-９Ａ-ｚ count as Latin: "１９９" stays whole).
_CJK_PUNCT = "\u3000-\u3004\u3008-\u3020\u3030-\u303f\u30fb\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\uffe0-\uffee"
_DASHES = "\u2014\u2015\u2e3a\u2e3b"  # — ― ⸺ ⸻ (a 2-em dash —— is one unit)
_ELLIPSES = "\u2026\u2025"
_ATOM = re.compile(
    rf"(?P<space>[^\S\u00a0\u2007\u202f]+)|(?P<han>[{_HAN}]+)|(?P<dash>[{_DASHES}]+)|(?P<ellipsis>[{_ELLIPSES}]+)|(?P<punct>[{_CJK_PUNCT}])"
    rf"|(?P<latin>(?:[\u00a0\u2007\u202f]|[^\s{_HAN}{_DASHES}{_ELLIPSES}{_CJK_PUNCT}])+)"  # a no-break space joins
)
# Characters that must not start a row (CJK 禁则 and Latin closing punctuation).
NO_ROW_START = set("，。！？、；：）」』》〉】〕］｝〗〙…‥—―⸺⸻,.!?;:)]}'\"”’％℃・·")
# Characters that must not end a row (opening brackets and quotes).
NO_ROW_END = set("（「『《〈【〔［｛〖〘“‘([{￥＄·・")
# Single-character words that lean on the word before them (的了吗…): a row never starts with one.
_LEAN_BACK = set("的了吗呢吧啊呀哦嘛着过们得地么")
# ... and single-character adverbs that lean on the word after them (不|心动): a row never ends with one.
_LEAN_FORWARD = set("不没很太最更")
# Abbreviations that stay on the row of the word after them: "Dr. Chen", "No. 5", "J. K.".
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:Dr|Mr|Mrs|Ms|Mx|Prof|St|Mt|Ft|No|Nos|Nr|Vol|vol|pp|vs|Jr|Sr|Capt|Lt|Sgt|Gen|Col|Rev|Hon|Gov|Sen|Rep|[A-Z])\.\Z")
# A break is allowed after a hyphen or en dash between letters ("well-|known"), never elsewhere inside a word.
_HYPHEN = re.compile(r"(?<=\w[-\u2010\u2013])(?=\w)")
# Phrases jieba's dictionary splits that read as one word in a subtitle.
_PHRASES = ("没有人", "一个人", "有人", "没人", "所有人", "每个人", "这个人", "那个人", "任何人", "什么人", "别人",
            "一些人", "很多人", "有些人", "一个个", "一下子", "不要脸", "对不起", "怎么办", "为什么", "不可能")


@lru_cache(maxsize=1)
def _segmenter():
    """jieba (MIT, ships its dictionary: works offline), loaded on first use (~1 s) and kept for the process;
    its "Building prefix dict" chatter silenced."""
    import jieba

    jieba.setLogLevel(logging.CRITICAL)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for phrase in _PHRASES:
        tokenizer.add_word(phrase)
    return tokenizer


def _words(han: str) -> list[str]:
    """Dictionary words only (no HMM guesses, which glue 人去, 人会 into "words")."""
    if len(han) == 1:
        return [han]
    return _segmenter().lcut(han, HMM=False)


def break_units(text: str) -> list[str]:
    """`text` cut where a row may break: each unit is one or more words with their trailing spaces, and
    "".join(units) == text. A unit is never split across rows (unless it alone is wider than a row)."""
    atoms: list[tuple[str, str]] = []
    for m in _ATOM.finditer(text):
        kind, piece = m.lastgroup, m.group()
        if kind == "han":
            atoms += [("han", w) for w in _words(piece)]
        elif kind == "latin":
            atoms += [("latin", w) for w in _HYPHEN.split(piece)]
        else:
            atoms.append((kind, piece))
    units: list[str] = []
    glue = False  # the next atom joins the current unit
    for kind, piece in atoms:
        prev = units[-1] if units else ""
        joins = units and (
            glue or kind == "space"
            or (piece[0] in NO_ROW_START and (kind != "latin" or not prev[-1].isspace()))
            or (kind == "han" and piece in _LEAN_BACK and not prev[-1].isspace())
        )
        if joins:
            units[-1] += piece
        else:
            units.append(piece)
        last = units[-1]
        glue = (piece[-1] in NO_ROW_END or (kind == "han" and piece in _LEAN_FORWARD)) if kind != "space" \
            else glue or bool(_ABBREVIATION.search(last.rstrip()))
    return units


# --- wrapping ---------------------------------------------------------------------------------

def wrap_text(text: str, fnt: ImageFont.FreeTypeFont, max_width: float, balanced: bool = False) -> list[str]:
    """Pixel-measured wrapping for mixed Chinese/Latin text, at word boundaries.

    Rows break between the units of `break_units` and every row fits `max_width` (the safe area), unless
    one word alone is wider than a row (a 72-letter word, a URL, forty "！"): that word is cut between
    characters. With `balanced`, rows are evened out to the narrowest width that needs no more rows
    (subtitles read better as two equal rows).
    """
    text = text.strip()
    full = fnt.getlength(text)
    if full <= max_width:
        return [text]
    units = [piece for unit in break_units(text) for piece in _cut_to_width(unit, fnt, max_width)]

    def greedy(target: float) -> list[str]:
        rows: list[str] = []
        current = ""
        for unit in units:
            candidate = current + unit
            if not current.strip() or fnt.getlength(candidate.rstrip()) <= target:
                current = candidate
            else:
                rows.append(current.rstrip())
                current = unit.lstrip()
        return rows + [current.rstrip()]

    filled = greedy(max_width)
    if not balanced or len(filled) < 2:
        return filled
    lo, hi, best = full / len(filled), max_width, filled
    for _ in range(10):  # the narrowest target that still needs only len(filled) rows
        mid = (lo + hi) / 2
        rows = greedy(mid)
        if len(rows) <= len(filled):
            best, hi = rows, mid
        else:
            lo = mid
    return best


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
