"""MiniMax Hailuo (海螺) video: create a task, query it, then retrieve the file's download URL.

Shapes and codes are taken from MiniMax's API reference, checked 2026-11-27 (the OpenAPI document
behind the pages, platform.minimax.io/docs/api-reference/video/generation/api/openapi.json, and the
official MiniMax-AI/MiniMax-MCP client, minimax_mcp/client.py and server.py):
  - create   POST /v1/video_generation  https://platform.minimaxi.com/docs/api-reference/video-generation-t2v
             (…-i2v): {model, prompt ≤ 2000, first_frame_image (URL or data URI), duration 6|10,
             resolution 512P|768P|1080P, prompt_optimizer} → {task_id, base_resp}
  - query    GET /v1/query/video_generation?task_id=…  https://platform.minimaxi.com/docs/api-reference/
             video-generation-query → {task_id, status Preparing|Queueing|Processing|Success|Fail,
             file_id, video_width, video_height, base_resp}
  - retrieve GET /v1/files/retrieve?file_id=…  …/video-generation-download → {file: {download_url, …}}
  - errors   https://platform.minimaxi.com/docs/api-reference/errorcode

MiniMax answers HTTP 200 with the error in `base_resp: {status_code, status_msg}`: 1002 and 1039 are
rate limits (retried as 429), 1004 and 2049 a bad key (401), 1008 an empty balance (402, not retried),
1026/1027 input/output refused for content (the moderation refusal), 2013 a bad parameter, 1000/1001/
1013 server trouble (retried). Hosts: https://api.minimaxi.com/v1 (mainland), https://api.minimax.io/v1.

The v1 API takes no aspect ratio: text-to-video answers are 16:9 (768P is 1366×768), and an image-to-
video answer follows its first frame, so vertical shots want `i2v_model` with reference images (the
video skill crops whatever comes back to the shot). The answers report no usage: a clip bills the
duration asked for. The download URL is fetched afresh on every run (it expires). Seeds are not
documented and not sent; the prompt optimiser is turned off so the prompt is used as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from microdrama.cloud.jobs import Adapter, Call, CloudError, JobSpec, JobState, data_uri
from microdrama.errors import InputError

PROVIDER_LABEL = "MiniMax Hailuo"
FILE = "minimax-file:"
MAX_PROMPT = 2000
# Landscape size of each resolution (text-to-video); 512P is image-to-video only on Hailuo-02.
SIZES = {"512P": (912, 512), "720P": (1280, 720), "768P": (1366, 768), "1080P": (1920, 1080)}
HAILUO = {"768P": (6.0, 10.0), "1080P": (6.0,)}
# model -> (resolution -> durations, takes text-to-video)
MODELS: dict[str, tuple[dict[str, tuple[float, ...]], bool]] = {
    "MiniMax-Hailuo-2.3": (HAILUO, True),
    "MiniMax-Hailuo-2.3-Fast": (HAILUO, False),
    "MiniMax-Hailuo-02": ({"512P": (6.0, 10.0), **HAILUO}, True),
    "T2V-01": ({"720P": (6.0,)}, True),
    "T2V-01-Director": ({"720P": (6.0,)}, True),
    "I2V-01": ({"720P": (6.0,)}, False),
    "I2V-01-Director": ({"720P": (6.0,)}, False),
    "I2V-01-live": ({"720P": (6.0,)}, False),
}
RATE_LIMITED = {1002, 1039}
BAD_KEY = {1004, 2049}
NO_BALANCE = {1008}
MODERATION = {"1026", "1027"}
SERVER = {1000, 1001, 1013}
QUEUED = {"Preparing", "Queueing"}


class MiniMaxAdapter(Adapter):
    name = "minimax"
    counterparty = ("MiniMax — 上海稀宇科技有限公司 (mainland, api.minimaxi.com) or Nanonoble Pte. Ltd. "
                    "(api.minimax.io); check the invoice")
    docs = ("https://platform.minimaxi.com/docs/api-reference/video-generation-t2v (…-i2v); "
            "https://platform.minimaxi.com/docs/api-reference/video-generation-query; "
            "https://platform.minimaxi.com/docs/api-reference/video-generation-download; "
            "https://platform.minimaxi.com/docs/api-reference/errorcode")
    checked_on = "2026-11-27"

    # -- model rules -------------------------------------------------------------------------------

    def _rules(self, model: str) -> tuple[dict[str, tuple[float, ...]], bool]:
        return MODELS.get(model, MODELS["MiniMax-Hailuo-2.3"])

    def video_durations(self, model: str) -> tuple[float, ...]:
        tiers, _ = self._rules(model)
        return tuple(sorted({s for durations in tiers.values() for s in durations}))

    def video_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        """The resolution nearest to the one asked for, in the same orientation (text-to-video is 16:9)."""
        tiers, _ = self._rules(model)
        want = max(width, height)
        w, h = SIZES[min(tiers, key=lambda t: (abs(max(SIZES[t]) - want), -max(SIZES[t])))]
        return (w, h) if width >= height else (h, w)

    # -- requests ----------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Call:
        if spec.kind != "video":
            raise InputError(f"minimax: kind '{spec.kind}' is not offered by this adapter (video only); set the "
                             f"{spec.kind} stage's account to a dashscope, ark or openai account instead")
        tiers, text_to_video = self._rules(spec.model)
        if len(spec.prompt) > MAX_PROMPT:
            raise InputError(f"minimax: JobSpec.prompt has {len(spec.prompt)} characters; MiniMax takes at most "
                             f"{MAX_PROMPT}: shorten the shot description")
        if not spec.image and not text_to_video:
            raise InputError(f"minimax: model '{spec.model}' is image-to-video only; give a first frame in "
                             "JobSpec.image or use MiniMax-Hailuo-2.3 for text-to-video")
        if not spec.image and not spec.prompt.strip():
            raise InputError("minimax: a video job needs JobSpec.prompt (or a first frame in JobSpec.image)")
        resolution = self._resolution(spec)
        seconds = self._seconds(spec)
        if seconds not in tiers[resolution]:
            raise InputError(f"minimax: {spec.model} at {resolution} takes {', '.join(f'{s:g}' for s in tiers[resolution])}"
                             f" s clips, not JobSpec.duration_s={seconds:g}; ask for a smaller size or a shorter clip")
        body: dict[str, Any] = {"model": spec.model, "prompt": spec.prompt, "duration": int(seconds),
                                "resolution": resolution, "prompt_optimizer": False}
        if spec.image:
            path = Path(spec.image)
            if not path.is_file():
                raise InputError(f"minimax: JobSpec.image '{spec.image}' does not exist; give a local image file")
            body["first_frame_image"] = data_uri(path)
        clash = sorted(set(spec.extra) & set(body))
        if clash:
            raise InputError(f"minimax: JobSpec.extra sets {', '.join(clash)}, which the adapter sets itself from "
                             "the spec's fields; remove them from extra")
        return Call("POST", "/video_generation", json={**body, **spec.extra})

    def _resolution(self, spec: JobSpec) -> str:
        w, h = self.video_size(spec.model, spec.width or 720, spec.height or 1280)
        tiers, _ = self._rules(spec.model)
        resolution = next(t for t in tiers if max(SIZES[t]) == max(w, h))
        if resolution == "512P" and not spec.image:  # Hailuo-02's 512P is image-to-video only
            resolution = "768P"
        return resolution

    def _seconds(self, spec: JobSpec) -> float:
        return 6.0 if spec.duration_s is None else float(spec.duration_s)

    def billed_as_asked(self, spec: JobSpec) -> dict[str, float]:
        """MiniMax bills each clip by the duration asked for and reports no usage in its answers."""
        return {"api_video_seconds": self._seconds(spec)}

    def accepted(self, spec: JobSpec, payload: Any, response: httpx.Response) -> str:
        task_id = payload.get("task_id") if isinstance(payload, dict) else None
        if not task_id:
            raise CloudError(f"minimax: the create answer has no task_id (got {str(payload)[:200]}); the task may "
                             "still have been created: check the MiniMax console")
        return str(task_id)

    def poll(self, task_id: str) -> Call:
        return Call("GET", f"/query/video_generation?task_id={quote(task_id, safe='')}")

    def status(self, payload: Any) -> JobState:
        if not isinstance(payload, dict):
            return JobState("failed", error_code="BadAnswer", error_message=f"not JSON: {str(payload)[:200]}")
        status = payload.get("status")
        if status in QUEUED:
            return JobState("pending")
        if status == "Processing":
            return JobState("running")
        if status == "Success":
            file_id = payload.get("file_id")
            labels = {"provider_label": PROVIDER_LABEL, "watermark": "none requested"}
            return JobState("succeeded", media=[f"{FILE}{file_id}"] if file_id else [], upstream_labels=labels)
        if status == "Fail":
            code, message = self.error_of(payload)
            return JobState("failed", error_code=code or "Fail", error_message=message,
                            moderation=self.is_moderation(code, message))
        return JobState("failed", error_code="UnknownStatus",
                        error_message=f"status {status!r} is not one MiniMax documents; the task id is kept in the "
                                      "journal, so running again polls it again")

    def locate(self, media: str) -> Call | None:
        if not media.startswith(FILE):
            return None
        return Call("GET", f"/files/retrieve?file_id={quote(media.removeprefix(FILE), safe='')}")

    def located(self, payload: Any) -> str:
        url = ((payload.get("file") or {}) if isinstance(payload, dict) else {}).get("download_url")
        if not url:
            raise CloudError(f"minimax: the file answer has no file.download_url (got {str(payload)[:200]}); run "
                             "again to ask again (the job is not paid for twice)")
        return url

    # -- errors ------------------------------------------------------------------------------------

    def answer_status(self, status: int, payload: Any) -> int:
        """`base_resp.status_code` decides: MiniMax answers 200 with the error inside."""
        code = _code(payload)
        if not code:
            return status
        if code in RATE_LIMITED:
            return 429
        if code in BAD_KEY:
            return 401
        if code in NO_BALANCE:
            return 402
        if code in SERVER:
            return 503
        if str(code) in MODERATION and isinstance(payload, dict) and payload.get("status") == "Fail":
            return status  # a task refused for its output: the task's own failure, read by `status`
        return status if status >= 400 else 400

    def error_of(self, payload: Any) -> tuple[str | None, str]:
        if isinstance(payload, dict) and isinstance(payload.get("base_resp"), dict):
            base = payload["base_resp"]
            code = base.get("status_code")
            hint = " — top up the MiniMax account" if code in NO_BALANCE else ""
            return (str(code) if code else None), f"{base.get('status_msg') or 'no message'}{hint}"[:400]
        return super().error_of(payload)

    def is_moderation(self, code: str | None, message: str) -> bool:
        return code in MODERATION


def _code(payload: Any) -> int:
    base = payload.get("base_resp") if isinstance(payload, dict) else None
    try:
        return int((base or {}).get("status_code") or 0)
    except (TypeError, ValueError):
        return 0
