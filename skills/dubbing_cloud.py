"""A line spoken by a speech API (CosyVoice or Qwen-TTS on DashScope, an OpenAI-compatible `/v1/audio/speech`),
metered per character as a third-party model-API cost, paid exactly once per line.

A character gets the provider voice named in `voice.voice_id`, else the `variant`-th voice of its gender
from `options.voices`. The line's emotion sets the speed (every engine has one); the answer is
converted to the project's mono 16-bit WAV and trimmed, so subtitles start with the voice.
"""

from __future__ import annotations

from pydantic import Field

from microdrama.cloud.jobs import JobSpec
from microdrama.cloud.skill_support import (
    CloudOptions,
    CloudSkill,
    account_of,
    add_quantities,
    attempts_kept,
    job_client,
    write_provider_record,
)
from microdrama.errors import InputError
from microdrama.media import run_ffmpeg
from microdrama.skill import Skill, SkillContext
from microdrama.speech import EMOTION_INSTRUCTIONS, EMOTION_PROSODY, finish_line, read_wav
from microdrama.stages import DubbedLine, DubbingInput

NEUTRAL_RATE = 165  # words per minute a Voice calls "normal": speed 1.0
SAMPLE_RATE = 24000


class CloudSpeechOptions(CloudOptions):
    instruct: bool = Field(True, description="also say the line's emotion as an instruction to engines that take "
                                             "one (CosyVoice v3, Qwen-TTS instruct, gpt-4o-mini-tts); speed is always "
                                             "set")
    voices: dict[str, list[str]] = Field(
        default_factory=dict, description="provider voice names per gender, picked by a character's variant, e.g. "
                                          "{female: [longxiaochun_v2, longwan_v2], male: [longcheng_v2]}")


class CloudDubbing(CloudSkill, Skill[DubbingInput, DubbedLine, CloudSpeechOptions]):
    name = "dubbing-cloud"
    stage = "dubbing"
    version = "1"
    backend = "speech-synthesis API"
    description = "Speaks one line through a speech API (CosyVoice, Qwen-TTS, OpenAI-compatible), metered per character."
    Input = DubbingInput
    Output = DubbedLine
    Options = CloudSpeechOptions

    def quote(self, inputs: DubbingInput, options: CloudSpeechOptions) -> dict[str, float]:
        return {"tts_characters": float(len(inputs.text)), "api_calls": 1.0}

    def check_inputs(self, inputs: DubbingInput, options: CloudSpeechOptions) -> None:
        account_of(self.name, options)
        self.voice_name(inputs, options)

    def voice_name(self, inputs: DubbingInput, options: CloudSpeechOptions) -> str:
        voice = inputs.voice
        if voice.voice_id:
            return voice.voice_id
        names = options.voices.get(voice.gender)
        if not names:
            raise InputError(f"line {inputs.line_id}: no {voice.gender} voice for {options.model}; give the character "
                             f"a voice_id or list voices in options.{self.name}.voices.{voice.gender}")
        return names[(voice.variant - 1) % len(names)]

    def run(self, inputs: DubbingInput, options: CloudSpeechOptions,
            ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        with attempts_kept(self, options):
            return self._make(inputs, options, ctx)

    def _make(self, inputs: DubbingInput, options: CloudSpeechOptions, ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        client = job_client(options, ctx, self.transport)
        rate_factor, _pitch = EMOTION_PROSODY[inputs.emotion]
        speed = round(min(2.0, max(0.5, inputs.voice.rate / NEUTRAL_RATE * rate_factor)), 3)
        instruction = EMOTION_INSTRUCTIONS[inputs.emotion][inputs.language] if options.instruct else None
        spec = JobSpec(kind="speech", model=options.model, text=inputs.text, voice=self.voice_name(inputs, options),
                       speed=speed, instruction=instruction, extra=options.extra)
        outcome = client.run(spec, ctx.work_dir / "answer", inputs.line_id)
        raw = ctx.path(f"{inputs.line_id}.raw.wav")
        run_ffmpeg(["-y", "-i", outcome.files[0], "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", raw],
                   what="decode the provider's audio")
        rate, samples = read_wav(raw)
        raw.unlink()
        line, measured = finish_line(ctx, inputs, samples, rate, engine=client.adapter.name,
                                     voice=f"{client.adapter.name} {options.model} {spec.voice} speed×{speed:.2f}")
        write_provider_record(ctx, client.adapter, options, [outcome])
        quantities = add_quantities([outcome])
        quantities.setdefault("tts_characters", measured["tts_characters"])
        quantities["audio_seconds"] = measured["audio_seconds"]
        return line, quantities
