"""Pixel-measured wrapping: every row fits the frame, whatever the line holds."""

import pytest

from microdrama.text import NO_ROW_START, font, wrap_text

FRAME, SAFE = 1080, 1080 * 0.8


@pytest.mark.parametrize("text", [
    "Supercalifragilisticexpialidociousnessandmoreandmoreandmorelettersuntilitends",  # one 77-letter word
    "！" * 40,
    "她说" + "！" * 30 + "然后离开了",
    "Visit https://example.invalid/a/very/long/path/that/never/breaks/at/spaces/ever now",
])
def test_every_row_stays_inside_the_frame(text):
    fnt = font(60)
    rows = wrap_text(text, fnt, SAFE, balanced=True)
    assert "".join(r.replace(" ", "") for r in rows) == text.replace(" ", "")
    assert all(fnt.getlength(r) <= FRAME for r in rows), [fnt.getlength(r) for r in rows]


def test_a_closing_mark_still_hangs_instead_of_starting_a_row():
    fnt = font(60)
    text = "三年前你被赶出赵家今天还敢回来我回来是为了拿回属于我的东西！」"
    rows = wrap_text(text, fnt, SAFE)
    assert len(rows) >= 2 and not any(r[0] in NO_ROW_START for r in rows[1:])


# The 60-character mixed line, in a Chinese and an English form.
MIXED_ZH = "「Dr. Chen说了——ThermoGlow™ 保温杯只要¥199，没有人不心动🙂」她一个人站在门口，谁都没有想到啊。"
MIXED_EN = "“Dr. Chen says the ThermoGlow™ Cup is ¥199 — a steal 🙂,” he said."
SUB_SAFE = 1080 * (1 - 2 * 0.1)  # the 9:16 frame's subtitle safe area at the default side margin


def _breaks(rows: list[str]) -> list[int]:
    """Offsets in the rows' joined text (spaces removed) where one row ends and the next begins."""
    offsets, at = [], 0
    for row in rows[:-1]:
        at += len(row.replace(" ", ""))
        offsets.append(at)
    return offsets


@pytest.mark.parametrize("line", [MIXED_ZH, MIXED_EN])
def test_a_mixed_line_wraps_at_word_boundaries_inside_the_safe_area(line, caplog):
    import jieba

    from microdrama.finishing import libass_scale, subtitle_rows
    from microdrama.text import NO_ROW_END, _warn_once, drawable_text

    _warn_once.cache_clear()  # warned once per line per process: an earlier test may have drawn this line
    assert len(line) >= 60
    rows = subtitle_rows(line, SUB_SAFE, 60)
    fnt = font(round(60 * libass_scale()))
    clean = drawable_text(line, warn=False)[0]
    assert "🙂" not in "".join(rows) and "".join(rows).replace(" ", "") == clean.replace(" ", "")
    assert len(rows) >= 2 and all(fnt.getlength(r) <= SUB_SAFE for r in rows), [fnt.getlength(r) for r in rows]
    joined = clean.replace(" ", "")
    jieba_ends = {sum(len(t) for t in jieba.lcut(joined, HMM=False)[:i]) for i in range(len(joined) + 1)}
    for at in _breaks(rows):
        assert at in jieba_ends, (rows, joined[:at])  # never inside a Chinese word
        assert not (joined[at - 1].isascii() and joined[at - 1].isalnum() and joined[at].isalnum()), rows  # nor a Latin one
    assert any("Dr. Chen" in r for r in rows) and any("ThermoGlow™" in r for r in rows)
    assert not any(r[0] in NO_ROW_START for r in rows[1:]) and not any(r[-1] in NO_ROW_END for r in rows[:-1]), rows
    assert [r.getMessage() for r in caplog.records if "🙂" in r.getMessage()]  # the dropped emoji is named


def test_chinese_words_and_phrases_stay_whole_at_every_width():
    fnt = font(41)
    text = "没有人不想要一个人的时间，没有人会拒绝这样的好东西吧，真的没有人，我一个人也可以"
    for width in range(240, 900, 17):
        rows = wrap_text(text, fnt, width)
        for a, b in zip(rows, rows[1:]):
            seam = a[-2:] + "|" + b[:2]
            assert not any(seam.find(w[:k] + "|" + w[k:]) >= 0 for w in ("没有人", "一个人") for k in (1, 2)), (width, rows)
            assert b[0] not in NO_ROW_START and a[-1] not in "不没", (width, rows)


def test_english_breaks_only_between_words_and_keeps_titles_with_names():
    fnt = font(41)
    text = "Try the ThermoGlow™ Cup, says Dr. Chen to Mr. Zhao at No. 5 St. James, a well-known café."
    widest = max(fnt.getlength(w) for w in text.split())  # narrower rows would have to cut a word
    for width in range(int(widest) + 1, 1000, 13):
        rows = wrap_text(text, fnt, width)
        rebuilt = rows[0]
        for row in rows[1:]:  # a break is a space, or follows a hyphen
            rebuilt += row if rebuilt.endswith("-") else " " + row
        assert rebuilt == text, (width, rows)
        assert not any(r.endswith(("Dr.", "Mr.", "No.", "St.")) for r in rows[:-1]), (width, rows)


def test_a_two_em_dash_and_an_ellipsis_are_never_split_nor_start_a_row():
    from microdrama.text import break_units

    units = break_units("他说——不可能……「真的」吗？")
    assert "".join(units) == "他说——不可能……「真的」吗？"
    assert not any(u[0] in "—…」？" for u in units[1:]) and not any(u.endswith("「") for u in units)
    assert any(u.endswith("——") for u in units)


def test_emoji_are_dropped_with_one_warning_naming_them(caplog):
    from microdrama.text import drawable_text

    assert drawable_text("a steal 🙂,” he said", warn=False) == ("a steal,” he said", "🙂")
    assert drawable_text("👍🏽 ok 👨‍👩‍👧 fine", warn=False)[0] == "ok fine"
    assert drawable_text("没有emoji的句子 ™ ¥199 é") == ("没有emoji的句子 ™ ¥199 é", "")
    drawable_text("warn me 🙂 once 🎉")
    drawable_text("warn me 🙂 once 🎉")
    assert [r.getMessage() for r in caplog.records if "warn me" in r.getMessage()] == [
        "dropped 🙂 🎉 from 'warn me 🙂 once 🎉': the subtitle font has no glyph for them (it would draw as a box)"]


def test_jieba_loads_silently_and_offline():
    import subprocess
    import sys

    code = "from microdrama.text import break_units; print('|'.join(break_units('没有人不心动，真的吗')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "没有人|不心动，|真的吗" and out.stderr == "", out
