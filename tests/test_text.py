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
