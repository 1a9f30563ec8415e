"""A loopback Kling AI: text2video / image2video tasks in the documented shapes, behind JWT auth.

Shapes from Kling's API reference (text-to-video, image-to-video, general info: auth and error codes),
as read 2026-11-27 for `microdrama/cloud/kling.py`. The fake checks each request's token the way the
real API does: HS256 over {iss, exp, nbf}, signed with the secret key, inside its validity window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

from tests.cloud.fakes import KEY, FakeProvider, Reply

SECRET = "kling-fake-SECRET-fedcba9876543210"
SIZES = {("std", "16:9"): (1280, 720), ("std", "9:16"): (720, 1280), ("std", "1:1"): (720, 720),
         ("pro", "16:9"): (1920, 1080), ("pro", "9:16"): (1080, 1920), ("pro", "1:1"): (1080, 1080)}
FIXED = {"kling-v2-master": "std", "kling-v2-1-master": "pro"}  # one size, no mode


def kling_error(status: int, code: int, message: str) -> Reply:
    """Kling's error envelope (general info page): {"code", "message", "request_id"}."""
    return Reply(status, {"code": code, "message": message, "request_id": str(uuid.uuid4())})


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeKling(FakeProvider):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.polls_before_done = 2  # submitted, then processing, then the result
        self.requests: list[dict] = []
        self.tokens: list[dict] = []  # the claims of every accepted token
        self.why_refused = ""

    # -- auth ------------------------------------------------------------------------------------

    def authorised(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            self.why_refused = "1001"
            return False
        try:
            head, claims, signature = auth.removeprefix("Bearer ").split(".")
            expected = hmac.new(SECRET.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
            body = json.loads(_unb64(claims))
            if json.loads(_unb64(head)) != {"alg": "HS256", "typ": "JWT"} or not hmac.compare_digest(
                    expected, _unb64(signature)) or body.get("iss") != KEY:
                self.why_refused = "1002"
                return False
        except ValueError:
            self.why_refused = "1002"
            return False
        now = time.time()
        if not body["nbf"] <= now < body["exp"]:
            self.why_refused = "1004"
            return False
        self.tokens.append(body)
        return True

    def unauthorised(self) -> Reply:
        code = int(self.why_refused or 1000)
        return kling_error(401, code, {1001: "Authorization is empty", 1004: "Authorization is expired"}.get(
            code, "Authorization is invalid"))

    # -- routes ----------------------------------------------------------------------------------

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        path = path.split("?")[0]
        for endpoint in ("text2video", "image2video"):
            base = f"/v1/videos/{endpoint}"
            if method == "POST" and path == base:
                return self._scripted("submit") or self.create(endpoint, json.loads(body or b"{}"))
            if method == "GET" and path.startswith(base + "/"):
                return self._scripted("poll") or self.query(endpoint, path.rsplit("/", 1)[1])
        return kling_error(404, 1202, f"invalid request method or path: {method} {path}")

    def create(self, endpoint: str, request: dict) -> Reply:
        self.requests.append(request)
        if endpoint == "text2video" and not request.get("prompt"):
            return kling_error(400, 1200, "prompt is required")
        if len(request.get("prompt", "")) > 2500:
            return kling_error(400, 1201, "prompt is too long")
        if "FORBIDDEN" in request.get("prompt", ""):
            return kling_error(400, 1301, "Trigger the content security policy")
        if endpoint == "image2video":
            image = request.get("image", "")
            if not image or image.startswith("data:"):
                return kling_error(400, 1201, "image is invalid: give a URL or base64 without a data: prefix")
            base64.b64decode(image, validate=True)
        if request.get("duration", "5") not in ("5", "10"):
            return kling_error(400, 1201, f"duration is invalid: {request.get('duration')}")
        model = request.get("model_name", "kling-v1")
        mode = FIXED.get(model, request.get("mode", "std"))
        if mode not in ("std", "pro"):
            return kling_error(400, 1201, f"mode is invalid: {mode}")
        ratio = request.get("aspect_ratio", "16:9") if endpoint == "text2video" else "9:16"  # the fake's frames
        if (mode, ratio) not in SIZES:
            return kling_error(400, 1201, f"aspect_ratio is invalid: {ratio}")
        task = self.new_task("video", {**request, "_size": SIZES[(mode, ratio)], "_mode": mode,
                                       "_endpoint": endpoint, "_created": int(time.time() * 1000)})
        with self.lock:  # Kling ids are long decimal strings
            old, task.id = task.id, f"86616821600223{task.id[-4:]}"
            self.tasks[task.id] = self.tasks.pop(old)
        return Reply(200, {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()),
                           "data": {"task_id": task.id, "task_status": "submitted",
                                    "created_at": task.request["_created"], "updated_at": task.request["_created"]}})

    def query(self, endpoint: str, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None or task.request["_endpoint"] != endpoint:
            return kling_error(404, 1203, f"task {task_id} not found")
        req = task.request
        data = {"task_id": task.id, "created_at": req["_created"], "updated_at": int(time.time() * 1000),
                "task_info": {}}
        envelope = {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4())}
        with self.lock:
            if task.polls_left > 0:
                task.polls_left -= 1
                first = task.polls_left == self.polls_before_done - 1
                return Reply(200, {**envelope, "data": {**data, "task_status": "submitted" if first
                                                        else "processing", "task_status_msg": ""}})
        if task.outcome == "moderation":
            return Reply(200, {**envelope, "data": {**data, "task_status": "failed",
                                                    "task_status_msg": "Failure to pass the risk control system"}})
        if task.outcome in ("failed", "expired"):
            return Reply(200, {**envelope, "data": {**data, "task_status": "failed",
                                                    "task_status_msg": "internal error, please retry"}})
        seconds = int(req.get("duration", "5"))
        if not task.media:
            task.media.append(self.make_video(seconds, *req["_size"]))
        units = {"std": 1.5, "pro": 2.5}[req["_mode"]] * seconds / 5
        return Reply(200, {**envelope, "data": {
            **data, "task_status": "succeed", "task_status_msg": "", "final_unit_deduction": f"{units:g}",
            "task_result": {"videos": [{"id": f"v-{task.id}", "url": self.file_url(task.media[0]),
                                        "duration": str(seconds)}]}}})
