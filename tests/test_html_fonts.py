"""Report pages carry their own Chinese font: a subset of Noto Sans SC, embedded, first in the font stack."""

import base64
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from fontTools.ttLib import TTFont

from microdrama.filing import Pack, write_pack
from microdrama.html_fonts import FAMILY, FONT_STACK, MONO_STACK, embed_font, font_face_css

PAGE = '<!doctype html><html><meta charset="utf-8"><title>逆袭千金</title><body style="font-family:{}">归来</body>'


def _embedded_font(page: str) -> TTFont:
    data = re.search(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", page).group(1)
    return TTFont(io.BytesIO(base64.b64decode(data)))


def test_the_face_holds_exactly_the_pages_characters_and_is_small():
    page = embed_font(PAGE.format(FONT_STACK))
    cmap = _embedded_font(page).getBestCmap()
    assert {ord(c) for c in "逆袭千金归来AZaz09"} <= set(cmap)
    assert ord("龙") not in cmap  # a character the page does not use is left out
    assert len(page) < 60_000  # a few dozen CJK glyphs, not the 8 MB font


def test_the_face_keeps_its_outlines_metrics_and_licence_but_not_layout_tables():
    font = _embedded_font(embed_font(PAGE.format(FONT_STACK)))
    assert {"CFF ", "cmap", "hmtx", "name"} <= set(font.keys())
    assert not {"GSUB", "GPOS", "vmtx"} & set(font.keys())  # a horizontal page does not use them
    assert "SIL Open Font License" in " ".join(str(r) for r in font["name"].names)


def test_the_same_page_embeds_the_same_face_on_any_day():
    """The face carries the bundled font's own timestamp, not the time it was cut: a report rendered again from the
    same content is the same bytes."""
    from microdrama.html_fonts import _page_font, _subset_woff
    from microdrama.media import cjk_font_path

    bundled = TTFont(str(cjk_font_path()), lazy=True)["head"].modified
    font = _embedded_font(embed_font(PAGE.format(FONT_STACK)))
    assert font["head"].modified == bundled
    text = "".join(sorted(set("逆袭千金归来")))
    first = _subset_woff(text)
    _subset_woff.cache_clear()
    _page_font.cache_clear()
    assert _subset_woff(text) == first


def test_everyday_pages_are_cut_from_the_cached_everyday_font_and_others_from_the_whole_font(monkeypatch):
    """GB 2312 text is subset from a smaller copy of the font kept in the cache folder (cut once per machine); a
    character outside it (喆, a common name character GB 2312 lacks) still gets its glyph, from the whole font."""
    import microdrama.html_fonts as html_fonts
    from microdrama.env import cache_dir

    html_fonts._everyday_font()
    kept = list((cache_dir() / "fonts").glob("page-everyday-*.otf"))
    assert len(kept) == 1 and TTFont(str(kept[0]))["maxp"].numGlyphs < 9000
    assert "SIL Open Font License" in " ".join(str(r) for r in TTFont(str(kept[0]))["name"].names)
    html_fonts._everyday_font.cache_clear()
    html_fonts._subset_woff.cache_clear()

    def not_again(*args, **kwargs):
        raise AssertionError("the everyday font was cut again although the cache folder holds it")

    monkeypatch.setattr(html_fonts, "_page_font", not_again)  # reading the kept copy needs no whole font
    everyday = _embedded_font(embed_font(PAGE.format(FONT_STACK))).getBestCmap()
    assert {ord(c) for c in "逆袭千金归来"} <= set(everyday)
    monkeypatch.undo()
    rare = _embedded_font(embed_font(PAGE.format(FONT_STACK).replace("归来", "归来喆"))).getBestCmap()
    assert "喆" not in html_fonts.EVERYDAY and ord("喆") in rare


def test_the_face_comes_first_in_the_stack_and_right_after_the_charset():
    page = embed_font(PAGE.format(FONT_STACK))
    assert FONT_STACK.startswith(f"'{FAMILY}'")
    assert page.index("@font-face") < page.index("<title>")
    assert f"font-family:'{FAMILY}'" in font_face_css("中")
    with pytest.raises(ValueError, match="charset"):
        embed_font("<html><body>中</body></html>")


def _filing_page(tmp_path):
    rows = [("剧名 title", "测试短剧"), ("cost_of_production (万元)", "0.0001"), ("drama_type", "1"),
            ("content_declared (AI-generated)", "1")]
    table = [{"episode": 1, "title": "归来", "duration_s": 6.4, "synopsis": "她回来了。" * 60, "sha256": "ab" * 32,
              "label_check": "pass", "actual_cost_rmb": "0.0001"}]
    return write_pack(Pack("上线备案 online filing", rows, table), tmp_path, "online")["html"]


def test_the_online_filing_page_uses_words_and_gives_long_text_a_wide_column(tmp_path):
    page = _filing_page(tmp_path).read_text(encoding="utf-8")
    assert "@font-face" in page and f"font-family:{FONT_STACK}" in page
    assert "<dt>制作成本 cost of production (万元)<br><code>cost_of_production (万元)</code></dt>" in page
    assert "<dd>1 漫剧</dd>" in page and "梗概 synopsis" in page and "<th>synopsis</th>" not in page
    assert "grid-template-columns:minmax(11em,16em) 1fr" in page and "overflow-wrap:anywhere" in page
    assert f"dd.hash{{font-family:{MONO_STACK}" in page and MONO_STACK.endswith(f"'{FAMILY}'")  # 万元 in code


def _claim_page(tmp_path):
    from microdrama.ledger import EntryIn, Ledger
    from microdrama.ledger.claim import build_claim, write_claim_pack
    from microdrama.ledger.policy import PolicyRules

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.append(EntryIn(kind="manual", category="staff", project_code="RD-1", occurred_on=date(2026, 11, 2),
                          amount=Decimal("100"), description="剧本研发"))
    claim = build_claim(ledger, PolicyRules.load(), "RD-1", date(2026, 11, 1), date(2026, 11, 30))
    page = write_claim_pack(claim, tmp_path / "claim")["html"]
    ledger.engine.dispose()
    return page


def _storyboard_page(screenplay, tmp_path):
    from microdrama.skill import SkillContext
    from microdrama.skills.storyboard import StoryboardSkill
    from microdrama.stages import StoryboardInput

    out = StoryboardSkill()(StoryboardInput(screenplay=screenplay), SkillContext(tmp_path / "board")).output
    from pathlib import Path

    return Path(out.sheet_html)


def test_claim_and_storyboard_pages_embed_the_face_too(screenplay, tmp_path):
    for page in (_claim_page(tmp_path), _storyboard_page(screenplay, tmp_path)):
        text = page.read_text(encoding="utf-8")
        assert text.count("@font-face") == 1 and f"font-family:{FONT_STACK}" in text
        cmap = _embedded_font(text).getBestCmap()
        assert all(ord(c) in cmap for c in re.sub(r"[\x00-\x7f]", "", re.search(r"<h1>(.*?)</h1>", text).group(1)))


@pytest.mark.browser
def test_chromium_draws_every_report_with_the_embedded_face(page, screenplay, tmp_path):
    for path, sample in ((_storyboard_page(screenplay, tmp_path), "测试短剧"), (_filing_page(tmp_path), "上线备案"),
                         (_claim_page(tmp_path), "智能体")):
        page.goto(path.as_uri())
        page.evaluate("document.fonts.ready")
        faces = page.evaluate(f"""async () => (await document.fonts.load('16px "{FAMILY}"', '{sample}'))
                                  .map(f => [f.family.replace(/"/g, ''), f.status])""")
        assert faces == [[FAMILY, "loaded"]], path.name
        assert page.evaluate(f"""document.fonts.check('16px "{FAMILY}"', '{sample}')""")
        page.screenshot(path=str(tmp_path / f"{path.stem}.png"), full_page=True)
        assert (tmp_path / f"{path.stem}.png").stat().st_size > 1000
