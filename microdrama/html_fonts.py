"""HTML reports that show their Chinese on any machine: the bundled font, subset and embedded.

A storyboard or filing pack is opened on a reviewer's laptop or an official's PC that may have no
CJK font at all; naming 'Noto Sans SC' in CSS then draws boxes or a fallback. Every report page
therefore carries an @font-face with a data URL of Noto Sans SC (SIL OFL 1.1, shipped by the
`pylopdf-fonts-zh-cn` wheel), cut down to the characters that page uses (tens of KB, not 8 MB).
The subset keeps the font's name table, so its OFL notice travels with it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import re

# The embedded face's own name, first in every report's font stack; an installed Noto Sans SC is the fallback.
FAMILY = "microdrama Noto Sans SC"
FONT_STACK = f"'{FAMILY}','Noto Sans SC',sans-serif"
# Monospace text (hashes, field names) falls back glyph by glyph to the face: 万元 in a <code> is no box either.
MONO_STACK = f"ui-monospace,monospace,'{FAMILY}'"
_ASCII = "".join(chr(c) for c in range(32, 127))  # Latin, digits and punctuation: always in, they are cheap
_HEAD = re.compile(r"<meta charset=['\"]?utf-8['\"]?>", re.IGNORECASE)


# Tables a horizontal HTML page does not need: glyph substitution and positioning (vertical forms, fractions,
# proportional CJK widths that CSS never turns on by default), their baselines, and vertical metrics.
PAGE_UNUSED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "VORG", "vhea", "vmtx", "DSIG")


@functools.lru_cache(maxsize=1)
def _page_font() -> bytes:
    """The bundled font without PAGE_UNUSED_TABLES, kept once per process: reading and pruning the layout
    tables was half of every subset (0.37 s -> 0.19 s for a storyboard page), and the face comes out 15% smaller."""
    from fontTools.ttLib import TTFont

    from microdrama.media import cjk_font_path

    font = TTFont(str(cjk_font_path()), recalcTimestamp=False)
    for tag in PAGE_UNUSED_TABLES:
        if tag in font:
            del font[tag]
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def _everyday_chars() -> frozenset[str]:
    """What nearly every report is written in: GB 2312 (its 6,763 hanzi, kana, Greek, Cyrillic and symbols), printable
    ASCII, Latin-1, general and CJK punctuation, arrows and full-width forms."""
    gb2312 = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                gb2312.add(bytes([hi, lo]).decode("gb2312"))
    blocks = [(0x20, 0x7F), (0xA0, 0x100), (0x2000, 0x2070), (0x2190, 0x2200), (0x3000, 0x3040), (0xFF00, 0xFFF0)]
    return frozenset(gb2312 | {chr(c) for start, end in blocks for c in range(start, end)})


EVERYDAY = _everyday_chars()


@functools.lru_cache(maxsize=1)
def _everyday_font() -> bytes:
    """The page font cut to EVERYDAY (7.5k glyphs of 30k, 1.8 MB): a page written only in those characters is subset
    from it, 3x faster (0.06 s instead of 0.18 s for a storyboard page, which every edit redraws); any other page
    from the whole font. Cut once per machine (~3 s) and kept in the cache folder, named by what it was cut from."""
    from fontTools import subset, version
    from fontTools.ttLib import TTFont

    from microdrama.env import cache_dir
    from microdrama.files import atomic_write_bytes
    from microdrama.media import cjk_font_path

    recipe = hashlib.sha256(cjk_font_path().read_bytes())
    recipe.update(f"{version}|{PAGE_UNUSED_TABLES}|{''.join(sorted(EVERYDAY))}".encode())
    kept = cache_dir() / "fonts" / f"page-everyday-{recipe.hexdigest()[:16]}.otf"
    if kept.is_file():
        return kept.read_bytes()
    subsetter = subset.Subsetter(_subset_options())
    subsetter.populate(text="".join(sorted(EVERYDAY)))
    font = TTFont(io.BytesIO(_page_font()), recalcBBoxes=False, recalcTimestamp=False)
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    atomic_write_bytes(kept, buf.getvalue())
    return buf.getvalue()


def prepare_page_fonts() -> None:
    """Load (or, the first time on this machine, cut) the everyday font now, not in the first report: the studio's
    worker calls it while it warms up."""
    _everyday_font()


def _subset_options():
    from fontTools import subset

    options = subset.Options()
    options.name_IDs = ["*"]  # the licence and copyright strings stay in the file
    options.notdef_outline = True
    return options


@functools.lru_cache(maxsize=32)
def _subset_woff(chars: str) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = _subset_options()
    options.flavor = "woff"  # zlib-compressed; WOFF2 would need brotli, which the toolkit does not install
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    # As fontTools' own subsetter does: the bounds stay the full font's (recomputing them drew every kept glyph),
    # and the timestamp stays the font's, so the same text gives the same bytes on any day.
    source = _everyday_font() if EVERYDAY.issuperset(chars) else _page_font()
    font = TTFont(io.BytesIO(source), recalcBBoxes=False, recalcTimestamp=False)
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_face_css(text: str) -> str:
    """An @font-face rule whose data URL holds exactly the glyphs `text` needs (plus printable ASCII)."""
    chars = "".join(sorted(set(text) - set("\r\n\t") | set(_ASCII)))
    data = base64.b64encode(_subset_woff(chars)).decode("ascii")
    return (f"@font-face{{font-family:'{FAMILY}';src:url(data:font/woff;base64,{data}) format('woff');"
            "font-display:block}")


def embed_font(page: str) -> str:
    """Return `page` (a whole HTML document) with the font face for its own characters in a <style> right
    after its charset declaration; the page's CSS names it through FONT_STACK."""
    match = _HEAD.search(page)
    if match is None:
        raise ValueError("embed_font needs a document with <meta charset=\"utf-8\"> (the face goes right after it)")
    style = f"<style>{font_face_css(page)}code,pre,kbd,samp{{font-family:{MONO_STACK}}}</style>"
    return page[:match.end()] + style + page[match.end():]
