"""Dubbing with espeak-ng: offline, CPU-only, ~1000x faster than real time.

espeak-ng is a formant synthesiser: robotic, but it reads Mandarin (`cmn`) and English
correctly and needs no model download, so every machine can dub a whole episode. Neural TTS
backends plug in behind the same contract (`stage = "dubbing"`). The library and its voice data
come from the `espeakng-loader` wheel; `microdrama.espeak` runs it in a worker process per line.
"""

from __future__ import annotations

import wave

import numpy as np

from microdrama.domain import Language, Voice
from microdrama.errors import InputError, RenderError
from microdrama.espeak import EspeakError, speak
from microdrama.skill import Skill, SkillContext
from microdrama.speech import EMOTION_PROSODY, finish_line
from microdrama.stages import DubbedLine, DubbingInput, NoOptions

LANGUAGE_VOICES = {"zh": "cmn", "en": "en-us"}

def voice_name(language: Language, voice: Voice) -> str:
    """espeak-ng voice: language + variant, e.g. 'cmn+f3'. Distinct variants give distinct voices."""
    family = "f" if voice.gender == "female" else "m"
    variant = min(voice.variant, 5) if family == "f" else voice.variant
    return f"{LANGUAGE_VOICES[language]}+{family}{variant}"


class EspeakDubbing(Skill[DubbingInput, DubbedLine, NoOptions]):
    name = "dubbing-espeak"
    stage = "dubbing"
    version = "3"  # 2: one worker process per line; 3: fixed noise seed, so breathy variants repeat exactly
    backend = "espeak-ng (formant TTS, offline)"
    description = "Speaks one line with espeak-ng (Mandarin 'cmn' or English), one distinct voice per character."
    Input = DubbingInput
    Output = DubbedLine

    def check_inputs(self, inputs: DubbingInput, options: NoOptions) -> None:
        if not any(ch.isalnum() for ch in inputs.text):
            raise InputError(f"line {inputs.line_id}: text {inputs.text!r} has nothing to speak; write words")

    def run(self, inputs: DubbingInput, options: NoOptions, ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        rate_factor, pitch_offset = EMOTION_PROSODY[inputs.emotion]
        name = voice_name(inputs.language, inputs.voice)
        raw = ctx.path(f"{inputs.line_id}.raw.wav")
        try:  # a fresh espeak-ng process per line: the same line always sounds the same
            speak(inputs.text, name, rate=int(inputs.voice.rate * rate_factor),
                  pitch=max(0, min(99, inputs.voice.pitch + pitch_offset)), out=str(raw))
        except EspeakError as exc:
            raise RenderError(f"dubbing line {inputs.line_id}: {exc}") from None
        with wave.open(str(raw), "rb") as w:
            sample_rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        raw.unlink()
        return finish_line(ctx, inputs, samples, sample_rate, voice=name, engine="espeak-ng")
