"""Volcengine Ark (火山方舟): Seedance video as async tasks, Seedream images answered synchronously.

Shapes, codes and limits are taken from the Ark API documents, checked 2026-11-26 (research notes
A1/A2, from the volcengine-python-sdk 5.0.42 sources and a Dec 2025 mirror of the docs):
  - create video task  https://www.volcengine.com/docs/82379/1520757
  - get video task     https://www.volcengine.com/docs/82379/1521309
  - images (Seedream)  https://www.volcengine.com/docs/82379/1541523
  - error codes        https://www.volcengine.com/docs/82379/1299023
  - prices             https://www.volcengine.com/docs/82379/1544106

Seedance 1.0 takes its settings as text commands after the prompt (`--ratio 9:16 --resolution 720p
--duration 5 …`), so the adapter maps the requested pixel size to the documented ratio/resolution
pair and asks for no watermark explicitly (the default may change; the label is recorded).
Ark's speech (Doubao TTS) lives on another host with another auth scheme, so it is not here.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import httpx

from microdrama.cloud.jobs import Adapter, Call, CloudError, JobSpec, JobState
from microdrama.errors import InputError

PROVIDER_LABEL = "Volcengine Ark"

# Seedance 1.0 pro/lite output sizes, (width, height) by resolution and ratio (create-task docs).
VIDEO_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640), "3:4": (544, 736), "9:16": (480, 864),
             "21:9": (960, 416)},
    "720p": {"16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960), "3:4": (832, 1120), "9:16": (704, 1248),
             "21:9": (1504, 640)},
    "1080p": {"16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1088, 1920), "21:9": (2176, 928)},
}
DEFAULT_VIDEO_SIZE = (704, 1248)  # 720p 9:16: a vertical episode's shot when the skill names no size
VIDEO_SECONDS = tuple(float(s) for s in range(2, 13))  # `--duration`: integer seconds 2–12 (Dec 2025 docs)

# First-frame images the create-task docs accept.
IMAGE_TYPES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".bmp": "bmp", ".tif": "tiff",
               ".tiff": "tiff", ".gif": "gif"}
MAX_IMAGE_BYTES = 30 * 1024 * 1024

# Seedream `size` bounds on total pixels, per model family (images docs).
IMAGE_PIXELS = {"seedream-3": (512 * 512, 2048 * 2048), "seedream-4-5": (2560 * 1440, 4096 * 4096),
                "seedream-4": (1280 * 720, 4096 * 4096)}

FAILED = {"failed", "expired", "cancelled"}


class ArkAdapter(Adapter):
    name = "ark"
    counterparty = "Beijing Volcano Engine Technology Co., Ltd. (北京火山引擎科技有限公司)"
    docs = ("https://www.volcengine.com/docs/82379/1520757 (create video task), "
            "https://www.volcengine.com/docs/82379/1521309 (get video task), "
            "https://www.volcengine.com/docs/82379/1541523 (images), "
            "https://www.volcengine.com/docs/82379/1299023 (error codes), "
            "https://www.volcengine.com/docs/82379/1544106 (prices)")
    checked_on = "2026-11-26"
    sync_kinds = frozenset({"image"})

    # -- submit ------------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Call:
        if spec.kind == "video":
            return self._submit_video(spec)
        if spec.kind == "image":
            return self._submit_image(spec)
        raise InputError(f"ark: kind '{spec.kind}' is not offered by Ark's model API (Doubao speech is a separate "
                         "service at openspeech.bytedance.com with its own app id and token); set the speech "
                         "provider's adapter to 'dashscope' or 'openai' instead")

    def _submit_video(self, spec: JobSpec) -> Call:
        seconds = self._seconds(spec)
        width, height = (spec.width, spec.height) if spec.width and spec.height else DEFAULT_VIDEO_SIZE
        resolution, ratio = _video_label(*self.video_size(spec.model, width, height))
        commands = f"--ratio {ratio} --resolution {resolution} --duration {seconds} --watermark false"
        if spec.seed is not None:
            commands += f" --seed {spec.seed}"
        commands += " --camerafixed false"
        content: list[dict[str, Any]] = [{"type": "text", "text": f"{spec.prompt.strip()} {commands}".strip()}]
        if spec.image:
            if "-t2v" in spec.model:
                raise InputError(f"ark: model '{spec.model}' is text-to-video only and takes no first frame; "
                                 "drop JobSpec.image or use an i2v model such as doubao-seedance-1-0-pro-250528")
            url = _data_uri(spec.image, "first frame")
            _check_first_frame(spec.image)
            content.append({"type": "image_url", "image_url": {"url": url}, "role": "first_frame"})
        elif not spec.prompt.strip():
            raise InputError("ark: a video job needs JobSpec.prompt (or a first frame in JobSpec.image)")
        return Call("POST", "/contents/generations/tasks", json=self._with_extra(spec, {"model": spec.model,
                                                                                        "content": content}))

    def _submit_image(self, spec: JobSpec) -> Call:
        if not spec.prompt.strip():
            raise InputError("ark: an image job needs JobSpec.prompt (Seedream requires a prompt)")
        body: dict[str, Any] = {"model": spec.model, "prompt": spec.prompt}
        if spec.width and spec.height:
            width, height = self.image_size(spec.model, spec.width, spec.height)
            body["size"] = f"{width}x{height}"
        body["response_format"] = "url"
        body["watermark"] = False  # Seedream's default is true ("AI生成" in the corner)
        if spec.seed is not None and "seedream-4" not in spec.model:  # 4.x documents no seed
            body["seed"] = spec.seed
        if spec.image:
            if "t2i" in spec.model:
                raise InputError(f"ark: model '{spec.model}' is text-to-image only and takes no reference; drop "
                                 "JobSpec.image or use doubao-seedream-4-0-250828")
            body["image"] = _data_uri(spec.image, "reference image")
        return Call("POST", "/images/generations", json=self._with_extra(spec, body))

    @staticmethod
    def _with_extra(spec: JobSpec, body: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(spec.extra) & set(body))
        if clash:
            raise InputError(f"ark: JobSpec.extra sets {', '.join(clash)}, which the adapter sets itself from the "
                             "spec's fields; remove them from extra")
        return {**body, **spec.extra}

    def _seconds(self, spec: JobSpec) -> int:
        allowed = self.video_durations(spec.model)
        if spec.duration_s is None:
            return 5  # the documented default
        if float(spec.duration_s) not in allowed:
            raise InputError(f"ark: JobSpec.duration_s={spec.duration_s:g} is not a Seedance duration; use a whole "
                             f"number of seconds from {allowed[0]:g} to {allowed[-1]:g}")
        return int(spec.duration_s)

    # -- answers -----------------------------------------------------------------------------------

    def accepted(self, spec: JobSpec, payload: Any, response: httpx.Response) -> str | JobState:
        if spec.kind == "image":
            return self._image_result(payload)
        task_id = payload.get("id") if isinstance(payload, dict) else None
        if not task_id:
            raise CloudError(f"ark: the create-task answer has no 'id' (got {str(payload)[:200]}); the task may "
                             "still have been created: check the Ark console's task list")
        return str(task_id)

    def _image_result(self, payload: Any) -> JobState:
        if not isinstance(payload, dict):
            return JobState("failed", error_code="BadAnswer", error_message=f"not JSON: {str(payload)[:200]}")
        if isinstance(payload.get("error"), dict):
            code, message = self.error_of(payload)
            return JobState("failed", error_code=code, error_message=message,
                            moderation=self.is_moderation(code, message))
        data = payload.get("data") or []
        first = data[0] if data and isinstance(data[0], dict) else {}
        if isinstance(first.get("error"), dict):  # group images report failures per image
            code, message = self.error_of(first)
            return JobState("failed", error_code=code, error_message=message,
                            moderation=self.is_moderation(code, message))
        if first.get("url"):
            media = [first["url"]]
        elif first.get("b64_json"):
            media = ["data:image/jpeg;base64," + first["b64_json"]]
        else:
            return JobState("failed", error_code="NoImage", error_message=f"no data[0].url in {str(payload)[:200]}")
        usage = payload.get("usage") or {}
        images = usage.get("generated_images", len(data))
        return JobState("succeeded", media=media, billed={"api_images": float(images)},
                        upstream_labels={"watermark": "false", "provider_label": PROVIDER_LABEL})

    def poll(self, task_id: str) -> Call:
        return Call("GET", f"/contents/generations/tasks/{task_id}")

    def status(self, payload: Any) -> JobState:
        if not isinstance(payload, dict):
            return JobState("failed", error_code="BadAnswer", error_message=f"not JSON: {str(payload)[:200]}")
        status = payload.get("status")
        if status == "queued":
            return JobState("pending")
        if status == "running":
            return JobState("running")
        if status == "succeeded":
            url = (payload.get("content") or {}).get("video_url")
            billed: dict[str, float] = {}
            if payload.get("duration") is not None:
                billed["api_video_seconds"] = float(payload["duration"])
            elif payload.get("frames"):  # `frames` wins over `duration` when it was set
                billed["api_video_seconds"] = payload["frames"] / float(payload.get("framespersecond") or 24)
            tokens = (payload.get("usage") or {}).get("completion_tokens")
            if tokens is not None:
                billed["api_video_tokens"] = float(tokens)
            watermark = str(payload.get("watermark", False)).lower()  # we ask for false; echoed by newer APIs
            return JobState("succeeded", media=[url] if url else [], billed=billed,
                            upstream_labels={"watermark": watermark, "provider_label": PROVIDER_LABEL})
        if status in FAILED:
            code, message = (self.error_of(payload) if isinstance(payload.get("error"), dict)
                             else (status, _NO_ERROR.get(status, "no reason given")))
            return JobState("failed", error_code=code, error_message=message,
                            moderation=self.is_moderation(code, message))
        return JobState("failed", error_code="UnknownStatus",
                        error_message=f"status {status!r} is not one Ark documents; the task id is kept in the "
                                      "journal, so running again polls it again")

    def error_of(self, payload: Any) -> tuple[str | None, str]:
        """Ark errors are `{"error": {"code", "message", "param", "type"}}` (error-code page)."""
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            err = payload["error"]
            return (err.get("code") or err.get("type") or None), str(err.get("message") or err)[:400]
        return super().error_of(payload)

    def is_moderation(self, code: str | None, message: str) -> bool:
        """Input*/Output*/SensitiveContentDetected[.…] codes are content refusals (error-code page)."""
        return bool(code) and "SensitiveContentDetected" in code

    # -- sizes -------------------------------------------------------------------------------------

    def video_durations(self, model: str) -> tuple[float, ...]:
        return VIDEO_SECONDS

    def video_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        """The documented size of the nearest ratio (9:16, 3:4, …), then the nearest pixel count."""
        want = math.log(width / height)
        ratio = min(VIDEO_SIZES["720p"], key=lambda r: abs(math.log(_ratio(r)) - want))
        sizes = [by_ratio[ratio] for by_ratio in VIDEO_SIZES.values()]
        return min(sizes, key=lambda s: abs(math.log(s[0] * s[1] / (width * height))))

    def image_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        """`width`×`height` scaled (same aspect) into the model's documented total-pixel range."""
        family = next((f for f in IMAGE_PIXELS if f in model), None)
        if family is None:
            return width, height
        low, high = IMAGE_PIXELS[family]
        aspect = width / height
        if family != "seedream-3":
            aspect = min(16.0, max(1 / 16, aspect))  # 4.x: aspect in [1/16, 16]
        area = min(high, max(low, width * height))
        if area == width * height and aspect == width / height:
            return width, height
        w = math.sqrt(area * aspect)
        h = area / w
        w, h = (math.ceil(w), math.ceil(h)) if area == low else (math.floor(w), math.floor(h))
        return w, h


_NO_ERROR = {
    "expired": "the task stayed queued or running past execution_expires_after (default 48 h)",
    "cancelled": "the task was cancelled before it ran",
}


def _ratio(label: str) -> float:
    w, h = label.split(":")
    return int(w) / int(h)


def _video_label(width: int, height: int) -> tuple[str, str]:
    for resolution, by_ratio in VIDEO_SIZES.items():
        for ratio, size in by_ratio.items():
            if size == (width, height):
                return resolution, ratio
    raise AssertionError(f"{width}x{height} is not a documented Seedance size")  # video_size returns one


def _data_uri(image: str, what: str) -> str:
    """A local image as a base64 data URI (Ark takes URLs or data URIs; a local file has no URL)."""
    path = Path(image)
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"ark: JobSpec.image '{image}' ({what}) must be one of "
                         f"{', '.join(sorted(set(IMAGE_TYPES.values())))}; convert it to PNG or JPEG")
    if not path.is_file():
        raise InputError(f"ark: JobSpec.image '{image}' ({what}) does not exist; give a local image file")
    data = path.read_bytes()
    if len(data) >= MAX_IMAGE_BYTES:
        raise InputError(f"ark: JobSpec.image '{image}' is {len(data) / 2**20:.1f} MB; Ark takes images under "
                         "30 MB: save it as a JPEG or scale it down")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _check_first_frame(image: str) -> None:
    """Seedance refuses first frames outside these bounds (Sep 2025 create page); say so before paying."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image) as img:
            width, height = img.size
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"ark: JobSpec.image '{image}' cannot be read as an image ({exc}); give a PNG or JPEG") from exc
    if not (300 < width < 6000 and 300 < height < 6000) or not (0.4 < width / height < 2.5):
        raise InputError(f"ark: JobSpec.image '{image}' is {width}x{height}; Seedance takes first frames with sides "
                         "between 300 and 6000 px and width/height between 0.4 and 2.5: resize or crop it")
