"""Frame-rate conversion by an ONNX frame-interpolation model: tiny models built here, run by onnxruntime."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from microdrama.errors import InputError
from microdrama.interpolation import HALVINGS, frame_times, load_interpolator, retime

onnx = pytest.importorskip("onnx")

CARD = {"name": "blend (test)", "licence": "MIT", "licence_url": "https://example.invalid/LICENSE",
        "source": "built by the test", "inputs": {"frame0": "img0", "frame1": "img1", "timestep": "timestep"},
        "output": "output", "size_multiple": 32}


def build_model(folder: Path, timestep: str | None = "scalar", card: dict | None = None) -> Path:
    """A RIFE-shaped ONNX graph: frames (1, 3, h, w) in [0, 1] and the time t in; out (1-t)·a + t·b.

    `timestep`: "scalar" (1, 1, 1, 1), "map" (1, 1, h, w), or None: a midpoint-only model, (a + b) / 2.
    """
    from onnx import TensorProto, helper

    frame = ["batch", 3, "h", "w"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, frame) for n in ("img0", "img1")]
    if timestep:
        inputs.append(helper.make_tensor_value_info("timestep", TensorProto.FLOAT,
                                                    [1, 1, 1, 1] if timestep == "scalar" else [1, 1, "h", "w"]))
        nodes = [helper.make_node("Sub", ["img1", "img0"], ["d"]), helper.make_node("Mul", ["d", "timestep"], ["m"]),
                 helper.make_node("Add", ["img0", "m"], ["output"])]
        initializers = []
    else:
        nodes = [helper.make_node("Add", ["img0", "img1"], ["s"]), helper.make_node("Mul", ["s", "half"], ["output"])]
        initializers = [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])]
    graph = helper.make_graph(nodes, "blend", inputs, [helper.make_tensor_value_info("output", TensorProto.FLOAT, frame)],
                              initializers)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9),
              str(folder / "model.onnx"))
    card = card or {**CARD, "inputs": {**CARD["inputs"], "timestep": "timestep" if timestep else None}}
    (folder / "model.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return folder


def frames(n=17, h=24, w=40, seed=0) -> np.ndarray:
    """Distinct random frames, at a size that is not a multiple of 32 (so padding and cropping run)."""
    return (np.random.RandomState(seed).rand(n, h, w, 3) * 255).astype(np.uint8)


def blend(a, b, t):
    return ((1 - t) * a.astype(np.float64) + t * b.astype(np.float64))


def test_16_to_30_fps_makes_exactly_the_frames_with_the_models_in_betweens(tmp_path):
    model = load_interpolator(build_model(tmp_path / "rife"))
    video = frames()  # 17 frames at 16 fps = 1 s
    out = retime(video, 16, 30, model)
    assert out.shape == (31, 24, 40, 3) and out.dtype == np.uint8
    times = frame_times(17, 16, 30)
    assert [j for j, (_, t) in enumerate(times) if t == 0] == [0, 15, 30]  # where the two clocks meet
    for j, (i, t) in enumerate(times):
        if t == 0:
            assert np.array_equal(out[j], video[i])
        else:
            assert 0 < t < 1 and np.abs(out[j] - blend(video[i], video[i + 1], t)).max() <= 0.51, j
    assert model.calls == 28  # every other frame is the model's
    assert all(np.abs(a.astype(int) - b).mean() > 1 for a, b in zip(out, out[1:]))  # no repeated frame
    assert retime(video, 16, 30, model, count=36).shape[0] == 36  # asked for more: the last frame is held


@pytest.mark.parametrize("src,dst,n,expected", [(16, 30, 81, 151), (24, 30, 121, 151), (8, 30, 25, 91)])
def test_frame_times_cover_the_source_span(src, dst, n, expected):
    times = frame_times(n, src, dst)
    assert len(times) == expected and times[0] == (0, 0.0) and times[-1] == (n - 1, 0.0)
    assert all(0 <= t < 1 and i < n for i, t in times)
    assert frame_times(17, 16 / 1.05, 30)[1][1] == pytest.approx(16 / 1.05 / 30)  # a slowed clip: its own clock


def test_a_time_map_input_is_filled_and_a_midpoint_only_model_halves_towards_t(tmp_path):
    a, b = frames(2)
    mapped = load_interpolator(build_model(tmp_path / "map", timestep="map"))
    assert np.abs(mapped.between(a, b, 0.3) - blend(a, b, 0.3)).max() <= 0.51
    mid = load_interpolator(build_model(tmp_path / "mid", timestep=None))
    out = mid.between(a, b, 0.3)  # halvings 0.5, 0.25, 0.375, 0.3125: the nearest is 1/16 away at most
    assert mid.calls == HALVINGS and np.abs(out - blend(a, b, 0.3125)).max() <= 1.01
    assert np.abs(mid.between(a, b, 0.5) - blend(a, b, 0.5)).max() <= 0.51 and mid.calls == HALVINGS + 1


def test_it_runs_on_the_cpu_when_no_cuda_provider_is_installed_and_says_so(tmp_path):
    model = load_interpolator(build_model(tmp_path / "rife"), device="cuda:0")
    record = model.record()
    assert record["execution_provider"] == "CPUExecutionProvider"  # onnxruntime without its CUDA build, here
    assert (record["method"], record["model"], record["licence"]) == ("model", "blend (test)", "MIT")


def test_a_relative_folder_is_under_the_models_dir(tmp_path, monkeypatch):
    build_model(tmp_path / "interp" / "rife")
    monkeypatch.setenv("MICRODRAMA_MODELS_DIR", str(tmp_path / "interp"))
    assert load_interpolator("rife").folder == tmp_path / "interp" / "rife"


def test_a_bad_folder_says_which_field_and_how_to_fix_it(tmp_path):
    with pytest.raises(InputError, match="interpolation_model: .* is not a folder.*leave interpolation_model empty"):
        load_interpolator(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="opt: .* has no model.onnx; export the model to ONNX"):
        load_interpolator(tmp_path / "empty", option="opt")
    no_card = build_model(tmp_path / "no-card")
    (no_card / "model.yaml").unlink()
    with pytest.raises(InputError, match="has no model.yaml, the model card .*copy assets/models/interpolation-model"):
        load_interpolator(no_card)
    unlicensed = {k: v for k, v in CARD.items() if k != "licence"}
    with pytest.raises(InputError, match="licence"):
        load_interpolator(build_model(tmp_path / "unlicensed", card=unlicensed))
    with pytest.raises(InputError, match="typo"):
        load_interpolator(build_model(tmp_path / "typo", card={**CARD, "typo": 1}))


def test_names_that_are_not_the_graphs_are_refused_naming_the_field(tmp_path):
    wrong = {**CARD, "inputs": {**CARD["inputs"], "frame0": "image0"}}
    with pytest.raises(InputError, match=r"inputs.frame0 'image0' is not an input of model.onnx \(its inputs: "
                                         r"img0, img1, timestep\); set inputs.frame0 to one of them"):
        load_interpolator(build_model(tmp_path / "wrong", card=wrong))
    unnamed = {**CARD, "inputs": {"frame0": "img0", "frame1": "img1"}}
    with pytest.raises(InputError, match="also needs input timestep.*set inputs.timestep"):
        load_interpolator(build_model(tmp_path / "unnamed", card=unnamed))
    with pytest.raises(InputError, match="output 'frame' is not an output of model.onnx"):
        load_interpolator(build_model(tmp_path / "output", card={**CARD, "output": "frame"}))
    broken = build_model(tmp_path / "broken")
    (broken / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="does not load in onnxruntime"):
        load_interpolator(broken)
