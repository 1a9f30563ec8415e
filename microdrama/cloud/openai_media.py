"""OpenAI-compatible media APIs: GPT-image / DALL·E pictures, Sora-style videos, text-to-speech.

Shapes follow `openai/openai-python` 3.3.1 (commit e43b4224, 2026-08-21: `resources/{images,videos}.py`,
`resources/audio/speech.py`, `types/image_generate_params.py`, `types/images_response.py`, `types/video*.py`,
`_base_client.py`) and the OpenAPI spec shipped in it (`api_reference/openapi.transformed.yml`), plus the model
pages developers.openai.com/api/docs/models/{sora-2,gpt-image-1,tts-1,gpt-4o-mini-tts}; checked 2026-11-26:
- pictures: `POST /images/generations` (JSON, synchronous) → `data[0].b64_json` (GPT-image models, always)
  or `data[0].url` (dall-e, valid 60 min), with `usage` tokens for GPT-image models only;
- speech: `POST /audio/speech` (JSON, synchronous) → the audio bytes themselves, no usage object;
- video: `POST /videos` (multipart/form-data only: `seconds` is the string "4" | "8" | "12"), then
  `GET /videos/{id}` (queued → in_progress → completed | failed, `error{code,message}` with HTTP 200),
  then `GET /videos/{id}/content` — bytes that need the API key (not a pre-signed URL);
- errors: `{"error": {"message", "type", "param", "code"}}`; content refusals are `moderation_blocked`
  (GPT-image, Sora) and `content_policy_violation` (dall-e).
OpenAI shut its own Videos API (Sora 2) down on 2026-09-24 (SDK commit 721cb1cd deprecates `videos.*`;
the sora-2 model page records the shutdown); `/videos` is kept here as the compatible contract that other
servers implement, so point `base_url` at such a server to use it.
"""

from __future__ import annotations

import json
import math
import mimetypes
from pathlib import Path
from typing import Any

import httpx

from microdrama.cloud.jobs import Adapter, Call, CloudError, JobSpec, JobState
from microdrama.errors import InputError

MODERATION = ("moderation_blocked", "content_policy_violation")
VIDEO_SECONDS = (4.0, 8.0, 12.0)  # CreateVideoMultipartBody.seconds: "4" | "8" | "12"
VIDEO_SIZES = ((720, 1280), (1280, 720), (1024, 1792), (1792, 1024))  # sora-2-pro and the compatible contract
SORA_2_SIZES = ((720, 1280), (1280, 720))  # sora-2 itself (model page; ComfyUI docs)
IMAGE_SIZES = {  # image_generate_params.size per model family
    "gpt-image": ((1024, 1024), (1536, 1024), (1024, 1536)),
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "dall-e-2": ((256, 256), (512, 512), (1024, 1024)),
}
VIDEO_STATES = {"queued": "pending", "in_progress": "running"}


def _nearest(sizes: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int]:
    """The documented size of the same shape: nearest aspect ratio first, then nearest pixel count."""
    want = math.log(width / height)
    return min(sizes, key=lambda s: (round(abs(math.log(s[0] / s[1]) - want), 3),
                                     abs(math.log(s[0] * s[1] / (width * height)))))


def _form_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class OpenAIMediaAdapter(Adapter):
    name = "openai"
    counterparty = "OpenAI, L.L.C. (or the operator of the compatible server named in base_url)"
    docs = ("github.com/openai/openai-python@e43b4224 (v3.3.1): resources/images.py, resources/videos.py, "
            "resources/audio/speech.py, api_reference/openapi.transformed.yml; developers.openai.com/api/docs/"
            "models/{sora-2,gpt-image-1,tts-1,gpt-4o-mini-tts}")
    checked_on = "2026-11-26"
    sync_kinds = frozenset({"image", "speech"})

    # -- model rules ---------------------------------------------------------------------------------

    def video_durations(self, model: str) -> tuple[float, ...]:
        return VIDEO_SECONDS

    def video_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        sizes = SORA_2_SIZES if model == "sora-2" or model.startswith("sora-2-20") else VIDEO_SIZES
        return _nearest(sizes, width, height)

    def image_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        if model.startswith("gpt-image-2"):  # any WxH: multiples of 16, 1:3 to 3:1, at most 3840x2160
            w, h = float(width), float(height)
            w, h = min(w, 3 * h), min(h, 3 * w)
            scale = min(1.0, 3840 / max(w, h), 2160 / min(w, h))
            return max(16, round(w * scale / 16) * 16), max(16, round(h * scale / 16) * 16)
        for family, sizes in IMAGE_SIZES.items():
            if model.startswith(family):
                return _nearest(sizes, width, height)
        return width, height  # another vendor's model behind a compatible server: ask for what was asked

    # -- requests ------------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Call:
        if spec.kind in ("image", "video") and not spec.prompt.strip():
            raise InputError(f"openai {spec.kind} generation needs a prompt (1 to 32000 characters): "
                             "JobSpec.prompt is empty")
        if spec.kind == "image":
            return self._image(spec)
        if spec.kind == "speech":
            return self._speech(spec)
        return self._video(spec)

    def _image(self, spec: JobSpec) -> Call:
        if spec.image:
            raise InputError("openai /images/generations takes no reference image: leave JobSpec.image empty "
                             "for this provider, or use a provider whose picture API takes references")
        body: dict[str, Any] = {"model": spec.model, "prompt": spec.prompt, "n": 1}
        if spec.width and spec.height:
            w, h = self.image_size(spec.model, spec.width, spec.height)
            body["size"] = f"{w}x{h}"
        return Call("POST", "/images/generations", json={**body, **spec.extra})

    def _speech(self, spec: JobSpec) -> Call:
        if not spec.text.strip():
            raise InputError("openai /audio/speech needs words to say: JobSpec.text is empty")
        body = {"model": spec.model, "input": spec.text, "voice": spec.voice or "alloy", "response_format": "wav",
                "speed": round(min(4.0, max(0.25, spec.speed)), 3)}  # the spec's range is 0.25-4.0
        if spec.instruction and not spec.model.startswith("tts-1"):  # tts-1 and tts-1-hd take no instructions
            body["instructions"] = spec.instruction
        return Call("POST", "/audio/speech", json={**body, **spec.extra},
                    headers={"Accept": "application/octet-stream"})

    def _video(self, spec: JobSpec) -> Call:
        seconds = spec.duration_s if spec.duration_s is not None else VIDEO_SECONDS[0]
        if seconds not in VIDEO_SECONDS:
            raise InputError(f"openai /videos makes clips of 4, 8 or 12 s, not JobSpec.duration_s={seconds:g}; "
                             "pick one of adapter.video_durations(model)")
        w, h = self.video_size(spec.model, spec.width or 720, spec.height or 1280)
        fields = {"model": spec.model, "prompt": spec.prompt, "seconds": str(int(seconds)), "size": f"{w}x{h}",
                  **{k: _form_value(v) for k, v in spec.extra.items()}}
        # Every field goes in `files` as (None, value): the endpoint takes multipart only, and httpx would
        # send `data` alone as a urlencoded form when there is no file to upload.
        files: dict[str, Any] = {k: (None, v) for k, v in fields.items()}
        if spec.image:
            path = Path(spec.image)
            if not path.is_file():
                raise InputError(f"JobSpec.image {path} is not a file: give the first frame as a local image")
            files["input_reference"] = (path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0]
                                        or "image/png")
        return Call("POST", "/videos", files=files)

    # -- answers -------------------------------------------------------------------------------------

    def accepted(self, spec: JobSpec, payload: Any, response: httpx.Response) -> str | JobState:
        if spec.kind == "speech":
            return self._speech_answer(spec, payload)
        if spec.kind == "image":
            return self._image_answer(payload)
        video_id = payload.get("id") if isinstance(payload, dict) else None
        if not video_id:
            raise CloudError(f"openai accepted the video job without an id: {str(payload)[:300]}")
        return str(video_id)

    def _speech_answer(self, spec: JobSpec, payload: Any) -> JobState:
        if not isinstance(payload, bytes) or not payload:
            raise CloudError(f"openai /audio/speech answered without audio bytes: {str(payload)[:300]}")
        wanted = spec.extra.get("response_format", "wav")
        if wanted == "wav" and payload[:4] != b"RIFF":
            raise CloudError(f"openai /audio/speech was asked for WAV but answered {payload[:16]!r}…; the server "
                             "ignored response_format, so this audio cannot be used as WAV")
        return JobState("succeeded", audio=payload, billed={"tts_characters": float(len(spec.text))},
                        upstream_labels={"provider": "openai", "format": str(wanted)})

    def _image_answer(self, payload: Any) -> JobState:
        items = payload.get("data") if isinstance(payload, dict) else None
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        if first.get("b64_json"):
            fmt = payload.get("output_format") or "png"
            media = f"data:image/{fmt};base64,{first['b64_json']}"
        elif first.get("url"):
            media = first["url"]
        else:
            raise CloudError(f"openai /images/generations answered without data[0].b64_json or data[0].url: "
                             f"{str(payload)[:300]}")
        billed = {"api_images": 1.0}
        usage = payload.get("usage") or {}
        for key, name in (("input_tokens", "tokens_in"), ("output_tokens", "tokens_out")):
            if isinstance(usage.get(key), (int, float)):
                billed[name] = float(usage[key])
        return JobState("succeeded", media=[media], billed=billed, upstream_labels={"provider": "openai"})

    def poll(self, task_id: str) -> Call:
        return Call("GET", f"/videos/{task_id}")

    def status(self, payload: Any) -> JobState:
        if not isinstance(payload, dict):
            return JobState("failed", error_code="bad_answer",
                            error_message=f"GET /videos/{{id}} answered something other than a video object: "
                                          f"{str(payload)[:300]}")
        state = payload.get("status")
        if state in VIDEO_STATES:
            return JobState(VIDEO_STATES[state])
        if state == "completed" and payload.get("id"):
            seconds = payload.get("seconds")
            # Relative to base_url: the client sends it to the API host, with the key (see `download`).
            return JobState("succeeded", media=[f"/videos/{payload['id']}/content"],
                            billed={"api_video_seconds": float(seconds) if seconds else 0.0},
                            upstream_labels={"provider": "openai"})
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        code = error.get("code") or state or "no_status"
        message = str(error.get("message") or f"video status {state!r}")[:400]
        return JobState("failed", error_code=code, error_message=message, moderation=self.is_moderation(code, message))

    def download(self, url: str) -> Call:
        """`/videos/{id}/content` lives on the API host and needs the key; a foreign URL (dall-e's pre-signed
        picture link) must never see it."""
        if url.startswith(("http://", "https://")):
            return Call("GET", url, headers={"X-Microdrama-No-Auth": "1"})
        return Call("GET", url, headers={"Accept": "application/binary"})

    def error_of(self, payload: Any) -> tuple[str | None, str]:
        if isinstance(payload, dict):
            error = payload.get("error")
            if isinstance(error, dict):
                return (error.get("code") or error.get("type")), str(error.get("message") or error)[:400]
            if isinstance(error, str):
                return None, error[:400]
            return payload.get("code"), str(payload.get("message") or payload)[:400]
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", "replace")
        return None, str(payload)[:400]

    def is_moderation(self, code: str | None, message: str) -> bool:
        text = f"{code or ''} {message}".lower()
        return any(word in text for word in MODERATION)
