"""Dub QA: does the dub say what the script says? Whisper hears each line; we score it.

English is scored by word error rate, Chinese by character error rate after normalisation
(punctuation, spaces and full-width forms removed), both with jiwer. Synthetic voices are
sometimes misheard, so the threshold is a flag for a human, not a verdict.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)


def normalise(text: str, language: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub(" ", text)
    if language == "zh":
        return "".join(text.split())
    return " ".join(text.split())


def error_rate(expected: str, heard: str, language: str) -> tuple[str, float]:
    import jiwer

    ref, hyp = normalise(expected, language), normalise(heard, language)
    if not ref:
        return ("cer" if language == "zh" else "wer"), 0.0
    if language == "zh":
        return "cer", round(float(jiwer.cer(ref, hyp or " ")), 4)
    return "wer", round(float(jiwer.wer(ref, hyp or "")), 4)


class LineQA(BaseModel):
    line_id: str
    expected: str
    heard: str
    metric: str
    score: float
    flagged: bool
    resynthesised: bool = False
