"""Alibaba Cloud Model Studio (DashScope): Wan video, Wan / Qwen-Image pictures, CosyVoice / Qwen-TTS speech.

Shapes are taken from the official API references (read 2026-11-26, docs snapshot 2026-05-28 in
github.com/modelstudioai/skills, cross-checked with dashscope-sdk-python v1.26.2):
- video: help.aliyun.com/zh/model-studio/text-to-video-api-reference and image-to-video-api-reference —
  `POST /services/aigc/video-generation/video-synthesis` with `X-DashScope-Async: enable`, then
  `GET /tasks/{task_id}` (PENDING → RUNNING → SUCCEEDED | FAILED | CANCELED | UNKNOWN after 24 h);
- pictures: text-to-image-v2-api-reference and qwen-image-api — `POST /services/aigc/text2image/image-synthesis`
  (async, same polling), `output.results[].url`, `usage.image_count`;
- speech: cosyvoice-tts-http-api — `POST /services/audio/tts/SpeechSynthesizer` (synchronous, mainland only,
  parameters inside `input`, `output.audio.url`, `usage.characters`) and qwen-tts-api —
  `POST /services/aigc/multimodal-generation/generation` (qwen3-tts-*, synchronous, WAV URL);
- errors: help.aliyun.com/zh/model-studio/error-code — a flat `{code, message}`; content refusals are
  `DataInspectionFailed` / `IPInfringementSuspect` (400 at submit, or a FAILED task). Failed tasks are not billed.
Result URLs expire after 24 h, so the job client downloads them at once. The `watermark` parameter only
adds a visible mark; no implicit AIGC metadata is documented for Wan outputs (recorded as such).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from microdrama.cloud.jobs import Adapter, Call, JobSpec, JobState, data_uri
from microdrama.errors import InputError

ASYNC = {"X-DashScope-Async": "enable"}
MODERATION = {"DataInspectionFailed", "data_inspection_failed", "IPInfringementSuspect"}
# Vertical sizes per resolution tier (text-to-video `parameters.size`, W*H).
VERTICAL = {"480P": (480, 832), "720P": (720, 1280), "1080P": (1080, 1920)}
# Allowed tiers and durations per model (the API reference's tables); unknown models get the newest rules.
VIDEO_MODELS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "wan2.6-t2v": (("720P", "1080P"), tuple(float(s) for s in range(2, 16))),
    "wan2.6-i2v": (("720P", "1080P"), tuple(float(s) for s in range(2, 16))),
    "wan2.6-i2v-flash": (("720P", "1080P"), tuple(float(s) for s in range(2, 16))),
    "wan2.5-t2v-preview": (("480P", "720P", "1080P"), (5.0, 10.0)),
    "wan2.5-i2v-preview": (("480P", "720P", "1080P"), (5.0, 10.0)),
    "wan2.2-t2v-plus": (("480P", "1080P"), (5.0,)),
    "wan2.2-i2v-plus": (("480P", "1080P"), (5.0,)),
    "wan2.2-i2v-flash": (("480P", "720P", "1080P"), (5.0,)),
    "wanx2.1-t2v-turbo": (("480P", "720P"), (5.0,)),
    "wanx2.1-t2v-plus": (("720P",), (5.0,)),
    "wanx2.1-i2v-turbo": (("480P", "720P"), (3.0, 4.0, 5.0)),
    "wanx2.1-i2v-plus": (("720P",), (5.0,)),
}
QWEN_IMAGE_SIZES = ((1664, 928), (1472, 1104), (1328, 1328), (1104, 1472), (928, 1664))


class DashScopeAdapter(Adapter):
    name = "dashscope"
    counterparty = "Alibaba Cloud Computing Co., Ltd. (阿里云计算有限公司), Model Studio"
    docs = ("help.aliyun.com/zh/model-studio/text-to-video-api-reference; image-to-video-api-reference; "
            "text-to-image-v2-api-reference; qwen-image-api; cosyvoice-tts-http-api; qwen-tts-api; error-code")
    checked_on = "2026-11-26"
    sync_kinds = frozenset({"speech"})

    # -- model rules ---------------------------------------------------------------------------------

    def _rules(self, model: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
        bare = model.replace("wan2.1-", "wanx2.1-")  # Singapore drops the x
        return VIDEO_MODELS.get(bare, (("720P", "1080P"), tuple(float(s) for s in range(2, 16))))

    def video_durations(self, model: str) -> tuple[float, ...]:
        return self._rules(model)[1]

    def video_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        tiers = self._rules(model)[0]
        want = max(width, height)
        tier = min(tiers, key=lambda t: (abs(max(VERTICAL[t]) - want), -max(VERTICAL[t])))
        w, h = VERTICAL[tier]
        return (w, h) if height >= width else (h, w)

    def image_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        if model.startswith("qwen-image"):
            return min(QWEN_IMAGE_SIZES, key=lambda s: abs(s[0] / s[1] - width / height))
        scale = min(1.0, 1440 / max(width, height))  # wan t2i: each side 512-1440
        return max(512, int(width * scale) // 16 * 16), max(512, int(height * scale) // 16 * 16)

    # -- requests ------------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Call:
        if spec.kind == "video":
            return self._video(spec)
        if spec.kind == "image":
            w, h = self.image_size(spec.model, spec.width or 720, spec.height or 1280)
            parameters = {"size": f"{w}*{h}", "n": 1, "prompt_extend": False, "watermark": False}
            if spec.seed is not None:
                parameters["seed"] = spec.seed
            return Call("POST", "/services/aigc/text2image/image-synthesis", headers=dict(ASYNC),
                        json={"model": spec.model, "input": {"prompt": spec.prompt[:800]},
                              "parameters": {**parameters, **spec.extra}})
        if spec.model.startswith("qwen"):  # Qwen-TTS: text up to 600 characters, a WAV URL back
            said = {"instructions": spec.instruction} if spec.instruction and "instruct" in spec.model else {}
            return Call("POST", "/services/aigc/multimodal-generation/generation",
                        json={"model": spec.model, "input": {"text": spec.text, "voice": spec.voice or "Cherry",
                                                             **said, **spec.extra}})
        said = {"instruction": spec.instruction} if spec.instruction and not spec.model.endswith("-v2") else {}
        return Call("POST", "/services/audio/tts/SpeechSynthesizer", json={"model": spec.model, "input": {
            "text": spec.text, "voice": spec.voice or "longanyang", "format": "wav", "sample_rate": 24000,
            "rate": round(min(2.0, max(0.5, spec.speed)), 3), "enable_aigc_tag": True, **said, **spec.extra}})

    def _video(self, spec: JobSpec) -> Call:
        w, h = self.video_size(spec.model, spec.width or 720, spec.height or 1280)
        parameters: dict[str, Any] = {"prompt_extend": False, "watermark": False}
        if spec.duration_s is not None:
            parameters["duration"] = int(round(spec.duration_s))
        if spec.seed is not None:
            parameters["seed"] = spec.seed
        inputs: dict[str, Any] = {"prompt": spec.prompt[:800]}
        if spec.model.startswith("wan2.6-i2v-flash"):
            parameters["audio"] = False  # sound is added later; a silent clip is also the cheaper tier
        if spec.image:  # image-to-video: the first frame decides the shape; the tier decides the size
            inputs["img_url"] = data_uri(Path(spec.image))
            parameters["resolution"] = next(t for t, size in VERTICAL.items() if max(size) == max(w, h))
        else:
            parameters["size"] = f"{w}*{h}"
        return Call("POST", "/services/aigc/video-generation/video-synthesis", headers=dict(ASYNC),
                    json={"model": spec.model, "input": inputs, "parameters": {**parameters, **spec.extra}})

    def accepted(self, spec: JobSpec, payload: Any, response: httpx.Response) -> str | JobState:
        output = payload.get("output", {}) if isinstance(payload, dict) else {}
        if spec.kind == "speech":
            url = (output.get("audio") or {}).get("url")
            if not url:
                raise InputError(f"dashscope speech answered without an audio URL: {str(payload)[:300]}")
            chars = (payload.get("usage") or {}).get("characters")
            return JobState("succeeded", media=[url], billed={"tts_characters": float(chars or len(spec.text))},
                            upstream_labels={"provider": "dashscope", "aigc_tag": "requested"})
        task_id = output.get("task_id")
        if not task_id:
            raise InputError(f"dashscope accepted the job without a task id: {str(payload)[:300]}")
        return task_id

    def poll(self, task_id: str) -> Call:
        return Call("GET", f"/tasks/{task_id}")

    def status(self, payload: Any) -> JobState:
        output = payload.get("output", {}) if isinstance(payload, dict) else {}
        usage = (payload.get("usage") or {}) if isinstance(payload, dict) else {}
        state = output.get("task_status")
        if state in ("PENDING", "RUNNING"):
            return JobState(state.lower())
        if state == "SUCCEEDED":
            labels = {"provider": "dashscope", "watermark": "false"}
            if output.get("video_url"):
                seconds = usage.get("duration") or usage.get("output_video_duration") or usage.get("video_duration")
                return JobState("succeeded", media=[output["video_url"]],
                                billed={"api_video_seconds": float(seconds or 0)}, upstream_labels=labels)
            urls = [r["url"] for r in output.get("results", []) if r.get("url")]
            return JobState("succeeded", media=urls[:1], billed={"api_images": float(usage.get("image_count")
                                                                                       or len(urls[:1]))},
                            upstream_labels=labels)
        if state == "UNKNOWN":
            return JobState("failed", error_code="UNKNOWN", error_message="the task is unknown or older than 24 h "
                            "(its result is gone); delete the step's journal to generate it again")
        code, message = output.get("code"), output.get("message") or state or "no status in the answer"
        return JobState("failed", error_code=code or state, error_message=message, moderation=code in MODERATION)

    def error_of(self, payload: Any) -> tuple[str | None, str]:
        if isinstance(payload, dict):
            return payload.get("code"), str(payload.get("message") or payload)[:400]
        return None, str(payload)[:400]

    def is_moderation(self, code: str | None, message: str) -> bool:
        return code in MODERATION

