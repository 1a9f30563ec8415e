"""How consistent does each character look across their shots? A reported measure, labelled with its method.

For every character, the middle frame of each shot they appear in is reduced to an embedding and the
mean pairwise cosine similarity is reported per run. With an image-embedding model configured (a CLIP
vision model in a local folder, `MICRODRAMA_IDENTITY_MODEL`), the embedding measures what is in the picture —
who, wearing what; otherwise it is a colour histogram plus a small grey thumbnail, a proxy that needs no model
but cannot tell two people in the same light apart. Every entry says which (`method`): the two scales differ,
so compare runs only within one method.

The folder comes from the environment (or the `model_dir` argument) rather than the project config because
the episode pipeline calls `character_consistency(shots)` without a config; the variable is read at call time.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Callable

import numpy as np

ENV_IDENTITY_MODEL = "MICRODRAMA_IDENTITY_MODEL"
COLOUR = "colour-histogram"
log = logging.getLogger("microdrama.consistency")


def middle_frame(path: str) -> np.ndarray:
    from microdrama.media import frame_at

    return np.asarray(frame_at(path))


def embedding(rgb: np.ndarray) -> np.ndarray:
    """The colour proxy: an 8×8×8 colour histogram and a 16×16 grey thumbnail, unit length."""
    q = (rgb.reshape(-1, 3) >> 5).astype(np.int32)  # 8 bins of 32 per channel: histogramdd's bins, 20x faster
    hist = np.bincount(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], minlength=512).astype(np.float64)
    h, w = rgb.shape[:2]
    grey = rgb[:: max(1, h // 16), :: max(1, w // 16)][:16, :16].mean(axis=2)
    thumb = grey.ravel()
    vec = np.concatenate([hist.ravel() / hist.sum(), (thumb - thumb.mean()) / (thumb.std() + 1e-6) / 16])
    return vec / (np.linalg.norm(vec) + 1e-9)


@lru_cache(maxsize=2)
def _clip_embedder(folder: str) -> Callable[[np.ndarray], np.ndarray]:
    """A CLIP vision model from a local folder (loaded once per process), as frame -> unit image embedding."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    model = CLIPVisionModelWithProjection.from_pretrained(folder, local_files_only=True).eval()
    if (Path(folder) / "preprocessor_config.json").is_file():
        processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
    else:  # the model's own input size, CLIP's normalisation
        size = model.config.image_size
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})

    def embed(rgb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            pixels = processor(images=[rgb], return_tensors="pt")["pixel_values"]
            vec = model(pixel_values=pixels).image_embeds[0].float().numpy()
        return vec / (np.linalg.norm(vec) + 1e-9)

    return embed


def embedder(model_dir: str | Path | None = None) -> tuple[Callable[[np.ndarray], np.ndarray], str, str | None]:
    """The embedding to use, its method label, and why the colour proxy is used when a model was configured."""
    folder = model_dir or os.environ.get(ENV_IDENTITY_MODEL) or None
    if not folder:
        return embedding, COLOUR, None
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        note = (f"identity model not used: {folder} has no config.json (expected a CLIP vision model saved with "
                f"save_pretrained; set {ENV_IDENTITY_MODEL} to such a folder or unset it)")
        log.warning(note)
        return embedding, COLOUR, note
    try:
        return _clip_embedder(str(folder.resolve())), f"clip:{folder.name}", None
    except (ImportError, OSError, ValueError) as exc:  # missing transformers, unreadable or non-CLIP folder
        note = f"identity model not used: {folder} did not load as a CLIP vision model ({str(exc)[:200]})"
        log.warning(note)
        return embedding, COLOUR, note


_embeddings: dict[tuple, np.ndarray] = {}
_embeddings_lock = threading.Lock()
EMBEDDINGS_KEPT = 256


def clip_embedding(clip: str, embed: Callable[[np.ndarray], np.ndarray], method: str) -> np.ndarray:
    """The embedding of a clip's middle frame. A warm process (the studio) re-checks every shot after each edit,
    so embeddings are kept by the clip's path, size and modification time (a store file never changes in place)
    and the method: an edit pays only for the shots it changed."""
    path = Path(clip)
    stat = path.stat()
    key = (method, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _embeddings_lock:
        if key in _embeddings:
            return _embeddings[key]
    vec = embed(middle_frame(clip))
    with _embeddings_lock:
        _embeddings[key] = vec
        while len(_embeddings) > EMBEDDINGS_KEPT:
            _embeddings.pop(next(iter(_embeddings)))
    return vec


def character_consistency(shots: list[tuple[list[str], str]],
                          model_dir: str | Path | None = None) -> dict[str, dict]:
    """shots: (character ids on screen, clip path). Per character: shots, mean similarity and the method.

    `model_dir`: a CLIP vision model folder; default: $MICRODRAMA_IDENTITY_MODEL; neither: the colour proxy.
    """
    embed, method, note = embedder(model_dir)
    per_char: dict[str, list[np.ndarray]] = {}
    for chars, clip in shots:
        vec = clip_embedding(clip, embed, method)
        for c in chars:
            per_char.setdefault(c, []).append(vec)
    report = {}
    for c, vecs in per_char.items():
        sims = [float(a @ b) for a, b in combinations(vecs, 2)]
        report[c] = {"shots": len(vecs), "mean_similarity": round(float(np.mean(sims)), 4) if sims else None,
                     "method": method, **({"note": note} if note else {})}
    return report
