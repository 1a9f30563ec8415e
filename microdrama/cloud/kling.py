"""Kling AI (可灵, Kuaishou): text-to-video and image-to-video as async tasks, signed with a short-lived JWT.

Shapes, codes and limits are taken from Kling's API reference, checked 2026-11-27. The official pages
are rendered by script, so they were read from a text copy of them (github.com/inference-sh/grid,
api/klingai/docs/ 00-general, 03-video-text2video, 04-video-image2video, pricing.md; commit c64037f)
and cross-checked against client code that calls the live API:
  - text to video   https://app.klingai.com/global/dev/document-api/apiReference/model/textToVideo
  - image to video  https://app.klingai.com/global/dev/document-api/apiReference/model/imageToVideo
  - general info    https://app.klingai.com/global/dev/document-api/apiReference/commonInfo (auth, codes)
  - prices          https://kling.ai/document-api/pricing/base/video

- Auth: every request carries `Authorization: Bearer <JWT>`, HS256 over {"iss": access key, "exp": now +
  30 min, "nbf": now − 5 s} signed with the secret key; a fresh token is made for each request, so a job
  polled for hours never sends an expired one. The account's `api_key_env` holds the access key,
  `secret_key_env` the secret key.
- `POST /v1/videos/text2video` {model_name, prompt ≤ 2500, mode std|pro, aspect_ratio 16:9|9:16|1:1,
  duration "5"|"10"} and `POST /v1/videos/image2video` {…, image: base64 without a `data:` prefix};
  answers {code: 0, message, request_id, data: {task_id, task_status}}.
- `GET /v1/videos/<text2video|image2video>/<task_id>`: task_status submitted → processing → succeed |
  failed (reason in task_status_msg), data.task_result.videos[0].{url, duration}, final_unit_deduction.
  A task is polled on the endpoint that created it, so the journal keeps the id as `<endpoint>:<id>`.
- Errors: HTTP status plus a numeric `code` — 1000–1004 auth (401), 1100–1102 account, arrears or
  resource pack used up (429, but waiting does not help: treated as 402), 1103 (403), 1200–1203 bad
  request, 1300/1301 platform or content-security policy (the content refusal), 1302/1303 rate or
  concurrency limit (429, retried), 5000–5002 server (retried). Failed tasks are not charged.
- Size: std is 720p and pro 1080p, so the mode is chosen from the size asked for (a 1080×1920 shot is
  pro); the master models have one size and take no mode. Kling documents no seed: `JobSpec.seed` is not
  sent. 1:1 sizes are not documented (assumed 720×720 / 1080×1080). Result URLs are kept 30 days.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx

from microdrama.cloud.jobs import Adapter, Call, CloudError, CloudProvider, JobSpec, JobState
from microdrama.errors import InputError

PROVIDER_LABEL = "Kling AI"
ENDPOINTS = ("text2video", "image2video")
RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
SIZES = {"720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
         "1080p": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}}
# (tier -> mode) per model (capability map); a mode of None means the model takes no `mode` field.
MODEL_TIERS: dict[str, dict[str, str | None]] = {
    "kling-v1": {"720p": "std"},
    "kling-v2-master": {"720p": None},
    "kling-v2-1-master": {"1080p": None},
}
DEFAULT_TIERS: dict[str, str | None] = {"720p": "std", "1080p": "pro"}
MAX_PROMPT = 2500
IMAGE_TYPES = {".jpg", ".jpeg", ".png"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
AUTH_CODES = {1000, 1001, 1002, 1003, 1004}
ACCOUNT_CODES = {1100, 1101, 1102}  # account trouble, arrears, resource pack used up: waiting will not help
MODERATION_CODES = {"1300", "1301"}
REFUSAL_WORDS = ("risk control", "content security", "sensitive", "policy", "违规", "风控", "敏感")
TOKEN_SECONDS = 1800


class KlingAdapter(Adapter):
    name = "kling"
    counterparty = "Kuaishou Technology (快手科技), Kling AI — the invoicing entity depends on the API region"
    docs = ("https://app.klingai.com/global/dev/document-api/apiReference/model/textToVideo; "
            "https://app.klingai.com/global/dev/document-api/apiReference/model/imageToVideo; "
            "https://app.klingai.com/global/dev/document-api/apiReference/commonInfo (auth, error codes); "
            "https://kling.ai/document-api/pricing/base/video (prices)")
    checked_on = "2026-11-27"

    # -- auth --------------------------------------------------------------------------------------

    def authorization(self, provider: CloudProvider) -> str:
        return f"Bearer {jwt_token(provider.api_key(), provider.secret_key())}"

    # -- submit ------------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Call:
        if spec.kind != "video":
            raise InputError(f"kling: kind '{spec.kind}' is not offered by this adapter (video only); set the "
                             f"{spec.kind} stage's account to a dashscope, ark or openai account instead")
        if len(spec.prompt) > MAX_PROMPT:
            raise InputError(f"kling: JobSpec.prompt has {len(spec.prompt)} characters; Kling takes at most "
                             f"{MAX_PROMPT}: shorten the shot description")
        width, height = self.video_size(spec.model, spec.width or 720, spec.height or 1280)
        tier = _tier_of(width, height)
        body: dict[str, Any] = {"model_name": spec.model, "prompt": spec.prompt,
                                "duration": str(self._seconds(spec))}
        mode = self._tiers(spec.model)[tier]
        if mode:
            body["mode"] = mode
        if spec.model.startswith(("kling-v2-6", "kling-v3")):
            body["sound"] = "off"  # the pipeline adds sound later; sound also costs more
        if spec.image:
            body["image"] = _image_base64(spec.image)
            endpoint = "image2video"  # the first frame decides the shape: no aspect_ratio
        else:
            if not spec.prompt.strip():
                raise InputError("kling: a video job needs JobSpec.prompt (or a first frame in JobSpec.image)")
            body["aspect_ratio"] = next(r for r, size in SIZES[tier].items() if size == (width, height))
            endpoint = "text2video"
        clash = sorted(set(spec.extra) & set(body))
        if clash:
            raise InputError(f"kling: JobSpec.extra sets {', '.join(clash)}, which the adapter sets itself (the "
                             "mode follows the size asked for: 1080p is pro); remove them from extra")
        return Call("POST", f"/v1/videos/{endpoint}", json={**body, **spec.extra})

    def _seconds(self, spec: JobSpec) -> int:
        allowed = self.video_durations(spec.model)
        if spec.duration_s is None:
            return 5
        if float(spec.duration_s) not in allowed:
            raise InputError(f"kling: JobSpec.duration_s={spec.duration_s:g} is not a {spec.model} duration; use "
                             f"one of {', '.join(f'{s:g}' for s in allowed)}")
        return int(spec.duration_s)

    # -- answers -----------------------------------------------------------------------------------

    def accepted(self, spec: JobSpec, payload: Any, response: httpx.Response) -> str:
        data = payload.get("data") if isinstance(payload, dict) else None
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not task_id:
            raise CloudError(f"kling: the create-task answer has no data.task_id (got {str(payload)[:200]}); the "
                             "task may still have been created: check the Kling console's task list")
        endpoint = "image2video" if spec.image else "text2video"
        return f"{endpoint}:{task_id}"

    def poll(self, task_id: str) -> Call:
        endpoint, _, bare = task_id.partition(":")
        if endpoint not in ENDPOINTS or not bare:
            raise InputError(f"kling: journal task id '{task_id}' is not '<text2video|image2video>:<id>'; delete "
                             "the step's journal record to submit again")
        return Call("GET", f"/v1/videos/{endpoint}/{bare}")

    def status(self, payload: Any) -> JobState:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            return JobState("failed", error_code="BadAnswer", error_message=f"no data in {str(payload)[:200]}")
        status = data.get("task_status")
        if status == "submitted":
            return JobState("pending")
        if status == "processing":
            return JobState("running")
        if status == "succeed":
            videos = (data.get("task_result") or {}).get("videos") or []
            first = videos[0] if videos and isinstance(videos[0], dict) else {}
            billed: dict[str, float] = {}
            if first.get("duration") not in (None, ""):
                billed["api_video_seconds"] = float(first["duration"])
            if data.get("final_unit_deduction") not in (None, ""):
                billed["kling_units"] = float(data["final_unit_deduction"])  # the provider's own deduction
            return JobState("succeeded", media=[first["url"]] if first.get("url") else [], billed=billed,
                            upstream_labels={"provider_label": PROVIDER_LABEL,
                                             "watermark": "none requested (no API parameter)"})
        if status == "failed":
            message = str(data.get("task_status_msg") or "no reason given")[:400]
            return JobState("failed", error_code="failed", error_message=message,
                            moderation=self.is_moderation("failed", message))
        return JobState("failed", error_code="UnknownStatus",
                        error_message=f"task_status {status!r} is not one Kling documents; the task id is kept in "
                                      "the journal, so running again polls it again")

    def answer_status(self, status: int, payload: Any) -> int:
        """Kling's `code` decides: an account out of credit answers 429 but waiting will not help."""
        code = payload.get("code") if isinstance(payload, dict) else None
        if not isinstance(code, int) or code == 0:
            return status
        if code in AUTH_CODES:
            return 401
        if code in ACCOUNT_CODES:
            return 402
        if code in (1103, 1304):
            return 403
        if code in (1302, 1303):
            return 429
        if code >= 5000:
            return status if status >= 500 else 503
        return status if status >= 400 else 400

    def error_of(self, payload: Any) -> tuple[str | None, str]:
        """Kling errors are `{"code": <int>, "message", "request_id"}` (general info page)."""
        if isinstance(payload, dict) and "code" in payload:
            code = payload["code"]
            hint = " — top up the account or buy a resource pack" if code in ACCOUNT_CODES else ""
            return str(code), f"{payload.get('message') or 'no message'}{hint}"[:400]
        return super().error_of(payload)

    def is_moderation(self, code: str | None, message: str) -> bool:
        """1300/1301 at submit; a failed task only says why in words, so those are read for a refusal."""
        if code in MODERATION_CODES:
            return True
        return code == "failed" and any(word in message.lower() for word in REFUSAL_WORDS)

    # -- sizes -------------------------------------------------------------------------------------

    def _tiers(self, model: str) -> dict[str, str | None]:
        return MODEL_TIERS.get(model, DEFAULT_TIERS)

    def video_durations(self, model: str) -> tuple[float, ...]:
        if model.startswith("kling-v3"):  # billed per second, 3–15 s
            return tuple(float(s) for s in range(3, 16))
        return (5.0, 10.0)

    def video_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        """The model's tier nearest in size (720p std, 1080p pro), at the ratio nearest to the one asked for."""
        tiers = self._tiers(model)
        tier = min(tiers, key=lambda t: (abs(max(SIZES[t]["16:9"]) - max(width, height)), -max(SIZES[t]["16:9"])))
        want = width / height
        ratio = min(RATIOS, key=lambda r: abs(RATIOS[r] - want))
        return SIZES[tier][ratio]


def jwt_token(access_key: str, secret_key: str, now: float | None = None) -> str:
    """RFC 7519 token, HS256, as Kling's general-info page specifies (valid 30 min, from 5 s ago)."""
    issued = int(time.time() if now is None else now)
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": access_key, "exp": issued + TOKEN_SECONDS, "nbf": issued - 5}
    signing = f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}." \
              f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = hmac.new(secret_key.encode("utf-8"), signing.encode("ascii"), hashlib.sha256).digest()
    return f"{signing}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _tier_of(width: int, height: int) -> str:
    return next(t for t, by_ratio in SIZES.items() if (width, height) in by_ratio.values())


def _image_base64(image: str) -> str:
    """A local first frame as bare base64 (Kling refuses a `data:` prefix), checked against its limits."""
    path = Path(image)
    if path.suffix.lower() not in IMAGE_TYPES:
        raise InputError(f"kling: JobSpec.image '{image}' must be a JPEG or PNG; convert it")
    if not path.is_file():
        raise InputError(f"kling: JobSpec.image '{image}' does not exist; give a local image file")
    data = path.read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"kling: JobSpec.image '{image}' is {len(data) / 2**20:.1f} MB; Kling takes at most 10 MB: "
                         "save it as a JPEG or scale it down")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"kling: JobSpec.image '{image}' cannot be read as an image ({exc})") from exc
    if min(width, height) < 300 or not (1 / 2.5 <= width / height <= 2.5):
        raise InputError(f"kling: JobSpec.image '{image}' is {width}x{height}; Kling takes first frames at least "
                         "300 px on each side with width/height between 1:2.5 and 2.5:1: resize or crop it")
    return base64.b64encode(data).decode("ascii")
