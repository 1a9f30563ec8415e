"""How consistent does each character look across their shots? A cheap, reported measure.

For every character, the middle frame of each shot they appear in is reduced to an embedding (a
colour histogram plus a small grey thumbnail) and the mean pairwise cosine similarity is
reported per run. It is a proxy that needs no model; on a GPU machine a face or CLIP embedding
is the better measure and plugs in here.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np


def middle_frame(path: str) -> np.ndarray:
    from microdrama.media import frame_at

    return np.asarray(frame_at(path))


def embedding(rgb: np.ndarray) -> np.ndarray:
    hist, _ = np.histogramdd(rgb.reshape(-1, 3), bins=(8, 8, 8), range=((0, 256),) * 3)
    h, w = rgb.shape[:2]
    grey = rgb.mean(axis=2)
    thumb = grey[:: max(1, h // 16), :: max(1, w // 16)][:16, :16].ravel()
    vec = np.concatenate([hist.ravel() / hist.sum(), (thumb - thumb.mean()) / (thumb.std() + 1e-6) / 16])
    return vec / (np.linalg.norm(vec) + 1e-9)


def character_consistency(shots: list[tuple[list[str], str]]) -> dict[str, dict]:
    """shots: (character ids on screen, clip path). Returns per character: shots, mean similarity."""
    cache: dict[str, np.ndarray] = {}
    per_char: dict[str, list[np.ndarray]] = {}
    for chars, clip in shots:
        if clip not in cache:
            cache[clip] = embedding(middle_frame(clip))
        for c in chars:
            per_char.setdefault(c, []).append(cache[clip])
    report = {}
    for c, vecs in per_char.items():
        sims = [float(a @ b) for a, b in combinations(vecs, 2)]
        report[c] = {"shots": len(vecs), "mean_similarity": round(float(np.mean(sims)), 4) if sims else None}
    return report
