"""Frame-rate conversion by a frame-interpolation model (RIFE-class, ONNX) from a local folder.

Video models make 16 or 24 fps; delivery is 30. Repeating frames judders, and ffmpeg's `minterpolate` (block
motion search, `microdrama.media.retime_filter`) tears at faces and hands; a learned interpolator such as
Practical-RIFE (MIT) makes cleaner in-betweens. The folder holds `model.onnx` and `model.yaml`, its model card:
name, licence, source, and how the graph is called (input and output names, the size multiple it needs).
`assets/models/interpolation-model.yaml` is the template. It runs with onnxruntime: on CUDA when the run is on a
GPU and onnxruntime-gpu is installed, else on the CPU; the provider used is recorded with the take.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from microdrama.domain import Strict, load_model
from microdrama.env import model_folder
from microdrama.errors import InputError

MODEL_FILE = "model.onnx"
CARD_FILE = "model.yaml"
TEMPLATE = "assets/models/interpolation-model.yaml"
HALVINGS = 4  # a midpoint-only model reaches other times by halving: 1/16 of a frame interval, ≤ 4 calls a frame
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class CardInputs(Strict):
    frame0: str = Field(min_length=1, description="graph input of the earlier frame: (1, 3, H, W) RGB in [0, 1]")
    frame1: str = Field(min_length=1, description="graph input of the later frame, same layout")
    timestep: str | None = Field(None, description="graph input of the time t in (0, 1), a scalar or a (1, 1, H, W) "
                                                   "map (read from the graph); empty = the model makes midpoints "
                                                   f"only, other times are reached by halving (≤ {HALVINGS} calls)")


class InterpolationCard(Strict):
    """model.yaml: what the model is, under which licence, and how its ONNX graph is called."""

    name: str = Field(min_length=1, description="model and version, e.g. Practical-RIFE 4.25")
    licence: str = Field(min_length=1, description="the weights' own licence, as on the model's page")
    licence_url: str = Field(min_length=1, description="where that licence is stated")
    source: str = Field(min_length=1, description="where the weights come from and how model.onnx was made")
    inputs: CardInputs
    output: str | None = Field(None, description="graph output holding the frame (1, 3, H, W); empty = the first")
    layout: Literal["NCHW"] = Field("NCHW", description="tensor layout of frames in and out (NCHW only)")
    size_multiple: int = Field(32, ge=1, le=1024, description="frames are padded with their edge pixels to a "
                                                              "multiple of this, then cropped back")


class Interpolator:
    """One loaded model: `between(a, b, t)` makes the frame at fraction t of the way from frame a to frame b."""

    def __init__(self, folder: Path, card: InterpolationCard, session) -> None:
        self.folder, self.card, self.session = folder, card, session
        inputs = {i.name: i for i in session.get_inputs()}
        self.dtype = NUMPY_TYPES.get(inputs[card.inputs.frame0].type, np.float32)
        self.time_input = inputs[card.inputs.timestep] if card.inputs.timestep else None
        self.output = card.output or session.get_outputs()[0].name
        self.calls = 0  # model runs so far (all threads together)

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def record(self) -> dict:
        """What made the in-betweens, for provider.json."""
        c = self.card
        return {"method": "model", "model": c.name, "licence": c.licence, "licence_url": c.licence_url,
                "source": c.source, "folder": str(self.folder), "execution_provider": self.provider}

    def between(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """(h, w, 3) uint8 frames -> the (h, w, 3) uint8 frame at time t in (0, 1)."""
        h, w = a.shape[:2]
        pa, pb = self._tensor(a), self._tensor(b)
        if self.time_input is not None:
            out = self._run(pa, pb, t)
        else:  # halve towards t; never return an end frame (that would repeat a frame)
            lo, hi, best, best_gap = 0.0, 1.0, None, 2.0
            for _ in range(HALVINGS):
                mid = (lo + hi) / 2
                frame = self._run(pa, pb, None)
                if abs(mid - t) < best_gap:
                    best, best_gap = frame, abs(mid - t)
                if best_gap < 1e-6:
                    break
                if t < mid:
                    hi, pb = mid, frame
                else:
                    lo, pa = mid, frame
            out = best
        return (np.clip(out[0, :, :h, :w].transpose(1, 2, 0).astype(np.float32), 0, 1) * 255).round().astype(np.uint8)

    def _tensor(self, frame: np.ndarray) -> np.ndarray:
        m = self.card.size_multiple
        h, w = frame.shape[:2]
        padded = np.pad(frame, ((0, -h % m), (0, -w % m), (0, 0)), mode="edge")
        return (padded.transpose(2, 0, 1)[None].astype(np.float32) / 255).astype(self.dtype)

    def _run(self, a: np.ndarray, b: np.ndarray, t: float | None) -> np.ndarray:
        feeds = {self.card.inputs.frame0: a, self.card.inputs.frame1: b}
        if self.time_input is not None and t is not None:
            shape = self.time_input.shape
            if len(shape) == 4:  # a map the size of the frame, or (1, 1, 1, 1)
                dims = [d if isinstance(d, int) and d > 0 else (a.shape[i] if i >= 2 else 1) for i, d in
                        enumerate(shape)]
            else:
                dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
            feeds[self.time_input.name] = np.full(dims, t, dtype=NUMPY_TYPES.get(self.time_input.type, np.float32))
        self.calls += 1
        return np.asarray(self.session.run([self.output], feeds)[0])


_loaded: dict[tuple, Interpolator] = {}
_lock = threading.Lock()


def load_interpolator(folder: str | Path, device: str = "cpu",
                      option: str = "interpolation_model") -> Interpolator:
    """Check the folder and load the model once per process (errors name the file, the field and the fix).

    `option` is the setting that named the folder, for the messages.
    """
    folder = model_folder(folder)
    onnx_path, card_path = folder / MODEL_FILE, folder / CARD_FILE
    if not folder.is_dir():
        raise InputError(f"{option}: {folder} is not a folder; put the frame-interpolation model's {MODEL_FILE} and "
                         f"its {CARD_FILE} (a copy of {TEMPLATE}, filled in) there, or leave {option} empty to "
                         "use ffmpeg")
    if not onnx_path.is_file():
        raise InputError(f"{option}: {folder} has no {MODEL_FILE}; export the model to ONNX (inputs: two RGB frames "
                         f"(1, 3, H, W) in [0, 1] and the time t) and save it there")
    if not card_path.is_file():
        raise InputError(f"{option}: {folder} has no {CARD_FILE}, the model card (name, licence, licence_url, source, "
                         f"inputs, output, size_multiple); copy {TEMPLATE} there and fill it in")
    card = load_model(InterpolationCard, card_path)
    import onnxruntime as ort  # a core dependency (the neural voices use it too)
    cuda = device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers()
    key = (str(onnx_path.resolve()), onnx_path.stat().st_mtime_ns, card_path.stat().st_mtime_ns, cuda,
           device if cuda else "cpu")
    with _lock:
        if key in _loaded:
            return _loaded[key]
        index = int(device.split(":", 1)[1]) if cuda and ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"] if cuda else [
            "CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.log_severity_level = 3  # onnxruntime's own warnings are not the user's business
        try:
            session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - a broken file is the user's input, not a crash
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise InputError(f"{option}: {onnx_path} does not load in onnxruntime ({first}); re-export it") from None
        check_graph(card, session, card_path)
        _loaded[key] = Interpolator(folder, card, session)
        return _loaded[key]


def check_graph(card: InterpolationCard, session, card_path: Path) -> None:
    """The names in the card must be the graph's, and the graph must need nothing the card does not name."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    named = {f"inputs.{k}": v for k, v in card.inputs.model_dump().items() if v}
    for field, name in named.items():
        if name not in inputs:
            raise InputError(f"{card_path}: {field} '{name}' is not an input of {MODEL_FILE} (its inputs: "
                             f"{', '.join(inputs)}); set {field} to one of them")
    extra = [n for n in inputs if n not in named.values()]
    if extra:
        raise InputError(f"{card_path}: {MODEL_FILE} also needs input {', '.join(extra)}, which the card does not "
                         "name; set inputs.timestep to it if it is the time t, or export the model without it")
    if card.output and card.output not in outputs:
        raise InputError(f"{card_path}: output '{card.output}' is not an output of {MODEL_FILE} (its outputs: "
                         f"{', '.join(outputs)}); set output to one of them")
    for field in ("frame0", "frame1"):
        shape = inputs[getattr(card.inputs, field)].shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise InputError(f"{card_path}: inputs.{field} has shape {shape} in {MODEL_FILE}; frames must be "
                             "(1, 3, H, W) RGB (layout NCHW): re-export the model with that input")
    if NUMPY_TYPES.get(inputs[card.inputs.frame0].type) is None:
        raise InputError(f"{card_path}: {MODEL_FILE} takes frames as {inputs[card.inputs.frame0].type}; only float "
                         "inputs are supported: re-export it with float32 or float16 frames")


def frame_times(n: int, src_fps: float, fps: float, count: int | None = None) -> list[tuple[int, float]]:
    """Per output frame: (source frame index, fraction t of the way to the next one); t = 0 is the frame itself.

    `count` defaults to the frames that fit in the source's span; frames past its end hold the last frame.
    """
    if n < 1 or src_fps <= 0 or fps <= 0:
        raise ValueError(f"need frames and positive rates (n={n}, src_fps={src_fps}, fps={fps})")
    count = count if count is not None else math.floor((n - 1) * fps / src_fps + 1e-6) + 1
    times = []
    for j in range(count):
        p = j * src_fps / fps
        i = math.floor(p + 1e-6)
        t = p - i
        times.append((min(i, n - 1), 0.0) if t < 1e-6 or i >= n - 1 else (i, t))
    return times


def retime(video: np.ndarray, src_fps: float, fps: float, interpolator: Interpolator,
           count: int | None = None) -> np.ndarray:
    """(n, h, w, 3) uint8 frames at `src_fps` -> `count` frames at `fps`: source frames where the times meet,
    the model's in-betweens everywhere else (never a repeated frame inside the source's span)."""
    video = np.ascontiguousarray(video, dtype=np.uint8)
    out = [video[i] if t == 0.0 else interpolator.between(video[i], video[i + 1], t)
           for i, t in frame_times(len(video), src_fps, fps, count)]
    return np.stack(out) if out else video[:0]
