"""The consistency report: an image-embedding model (a tiny CLIP built offline) when configured, colours otherwise."""

import av
import numpy as np
import pytest

from microdrama.consistency import COLOUR, ENV_IDENTITY_MODEL, character_consistency


def clip_of(path, colour, square=None):
    """Three 64x64 frames of one colour, with a grey square (a 'face') where asked."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for _ in range(3):
            rgb = np.zeros((64, 64, 3), np.uint8)
            rgb[:] = colour
            if square is not None:
                rgb[square[0]:square[0] + 24, square[1]:square[1] + 24] = 128
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


@pytest.fixture
def shots(tmp_path):
    a = clip_of(tmp_path / "a.mp4", (200, 40, 40), (8, 8))
    b = clip_of(tmp_path / "b.mp4", (200, 40, 40), (30, 30))
    c = clip_of(tmp_path / "c.mp4", (30, 60, 200))
    return [(["lin"], a), (["lin", "zhao"], b), (["zhao"], c), (["mei"], c)]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A CLIP vision model at toy size, saved like a downloaded one (weights + preprocessor config)."""
    pytest.importorskip("transformers")
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=16, projection_dim=8, num_hidden_layers=2,
                                                           num_attention_heads=2, intermediate_size=32, image_size=32,
                                                           patch_size=8))
    model.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_without_a_model_the_colour_proxy_is_used_and_labelled(shots, monkeypatch):
    monkeypatch.delenv(ENV_IDENTITY_MODEL, raising=False)
    report = character_consistency(shots)
    assert {c: r["method"] for c, r in report.items()} == {"lin": COLOUR, "zhao": COLOUR, "mei": COLOUR}
    assert report["lin"]["shots"] == 2 and report["lin"]["mean_similarity"] > report["zhao"]["mean_similarity"]
    assert report["mei"]["mean_similarity"] is None  # one shot: nothing to compare


def test_a_configured_clip_model_measures_and_is_labelled(shots, tiny_clip, monkeypatch):
    monkeypatch.setenv(ENV_IDENTITY_MODEL, str(tiny_clip))  # how the episode pipeline's call picks it up
    report = character_consistency(shots)
    assert report["lin"]["method"] == f"clip:{tiny_clip.name}" and "note" not in report["lin"]
    monkeypatch.delenv(ENV_IDENTITY_MODEL)
    proxy = character_consistency(shots)
    assert report["lin"]["mean_similarity"] != proxy["lin"]["mean_similarity"]  # a different embedding
    assert -1 <= report["zhao"]["mean_similarity"] <= 1
    assert character_consistency(shots, model_dir=tiny_clip) == report


def test_a_folder_that_is_not_a_model_falls_back_with_the_reason(shots, tmp_path):
    report = character_consistency(shots, model_dir=tmp_path / "nothing-here")
    assert report["lin"]["method"] == COLOUR and "has no config.json" in report["lin"]["note"]


def test_a_warm_process_embeds_each_clip_once_until_the_file_changes(shots, tmp_path, monkeypatch):
    """The studio re-checks every shot after each edit: a clip already embedded is not decoded again, and a
    clip rewritten at the same path (another size or time) is."""
    import os

    import microdrama.consistency as consistency

    monkeypatch.delenv(ENV_IDENTITY_MODEL, raising=False)
    decoded = []
    real = consistency.middle_frame
    monkeypatch.setattr(consistency, "middle_frame", lambda clip: decoded.append(clip) or real(clip))
    first = character_consistency(shots)
    assert sorted(decoded) == sorted({clip for _, clip in shots})  # each clip once, even when shared
    decoded.clear()
    assert character_consistency(shots) == first and decoded == []
    changed = shots[2][1]
    clip_of(changed, (200, 40, 40), (30, 30))  # now what b shows, written again at the same path
    os.utime(changed, ns=(1, 1))
    again = character_consistency(shots)
    assert decoded == [changed] and again["zhao"]["mean_similarity"] > first["zhao"]["mean_similarity"] + 0.5
