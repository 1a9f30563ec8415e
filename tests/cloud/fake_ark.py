"""A loopback Volcengine Ark: Seedance tasks and Seedream images in the documented shapes.

Shapes from the Ark docs (create task /docs/82379/1520757, get task /1521309, images /1541523, error
codes /1299023; research notes A1/A2, checked 2026-11-26). Served under `/api/v3` like the real host
(`https://ark.cn-beijing.volces.com/api/v3`); the prefix is also optional here.
"""

from __future__ import annotations

import json
import re
import time

from tests.cloud.fakes import FakeProvider, Reply

PREFIX = "/api/v3"
SIZES = {  # (resolution, ratio) -> pixels, as documented for Seedance 1.0 pro/lite
    ("480p", "16:9"): (864, 480), ("480p", "4:3"): (736, 544), ("480p", "1:1"): (640, 640),
    ("480p", "3:4"): (544, 736), ("480p", "9:16"): (480, 864), ("480p", "21:9"): (960, 416),
    ("720p", "16:9"): (1248, 704), ("720p", "4:3"): (1120, 832), ("720p", "1:1"): (960, 960),
    ("720p", "3:4"): (832, 1120), ("720p", "9:16"): (704, 1248), ("720p", "21:9"): (1504, 640),
    ("1080p", "16:9"): (1920, 1088), ("1080p", "4:3"): (1664, 1248), ("1080p", "1:1"): (1440, 1440),
    ("1080p", "3:4"): (1248, 1664), ("1080p", "9:16"): (1088, 1920), ("1080p", "21:9"): (2176, 928),
}
LONG = {"rs": "resolution", "rt": "ratio", "dur": "duration", "fps": "framespersecond", "wm": "watermark",
        "cf": "camerafixed"}


def ark_error(status: int, code: str, message: str, kind: str = "BadRequest") -> Reply:
    """Ark's error envelope (error-code page): {"error": {"code", "message", "param", "type"}}."""
    return Reply(status, {"error": {"code": code, "message": f"{message} Request id: 0217fake", "param": "",
                                    "type": kind}})


def text_commands(text: str) -> tuple[str, dict[str, str]]:
    """Split '<prompt> --ratio 9:16 --dur 5 …' into the prompt and the long-named commands."""
    found = {LONG.get(k, k): v for k, v in re.findall(r"--(\w+)\s+(\S+)", text)}
    return re.split(r"\s--\w+\s", " " + text, maxsplit=1)[0].strip(), found


class FakeArk(FakeProvider):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.polls_before_done = 2  # queued, then running, then the result
        self.requests: list[dict] = []  # JSON bodies of create-task and image requests, in order

    def unauthorised(self) -> Reply:
        return ark_error(401, "AuthenticationError", "The API key format is incorrect.", "Unauthorized")

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        path = path.split("?")[0].removeprefix(PREFIX)
        if method == "POST" and path == "/contents/generations/tasks":
            return self._scripted("submit") or self.create_task(json.loads(body or b"{}"))
        if method == "GET" and path.startswith("/contents/generations/tasks/"):
            return self._scripted("poll") or self.get_task(path.rsplit("/", 1)[1])
        if method == "POST" and path == "/images/generations":
            return self._scripted("submit") or self.images(json.loads(body or b"{}"))
        return ark_error(404, "NotFound", f"no such API: {method} {path}", "NotFound")

    # -- Seedance --------------------------------------------------------------------------------

    def create_task(self, request: dict) -> Reply:
        self.requests.append(request)
        if not request.get("model") or not request.get("content"):
            return ark_error(400, "MissingParameter", "The request failed because it is missing `model` or `content`.")
        texts = [c.get("text", "") for c in request["content"] if c.get("type") == "text"]
        prompt, commands = text_commands(texts[0] if texts else "")
        if "FORBIDDEN" in prompt:
            return ark_error(400, "InputTextSensitiveContentDetected",
                             "The request failed because the input text may contain sensitive information.")
        duration = commands.get("duration", "5")
        if not duration.isdigit() or not 2 <= int(duration) <= 12:
            return ark_error(400, "InvalidParameter", f"The parameter `duration` specified in the request is not "
                                                      f"valid: {duration}")
        for item in request["content"]:
            if item.get("type") == "image_url" and not str(item.get("image_url", {}).get("url", "")).startswith(
                    ("http://", "https://", "data:image/")):
                return ark_error(400, "InvalidParameter", "The parameter `image_url.url` specified in the request "
                                                          "is not valid.")
        resolution = commands.get("resolution", "1080p" if "-pro" in request["model"] else "720p")
        ratio = commands.get("ratio", "16:9")
        if (resolution, ratio) not in SIZES:
            return ark_error(400, "InvalidParameter", f"The parameter `ratio`/`resolution` ({ratio}, {resolution}) "
                                                      "specified in the request is not valid.")
        task = self.new_task("video", {**request, "_commands": commands, "_duration": int(duration),
                                       "_size": SIZES[(resolution, ratio)], "_created": int(time.time())})
        with self.lock:  # Ark ids look like cgt-20251009163014-wfnnx
            old, task.id = task.id, f"cgt-20261126163014-{task.id[-4:]}"
            self.tasks[task.id] = self.tasks.pop(old)
        return Reply(200, {"id": task.id})

    def get_task(self, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None:
            return ark_error(404, "NotFound.TaskId", f"The specified task `{task_id}` is not found.", "NotFound")
        req = task.request
        base = {"id": task.id, "model": req["model"], "created_at": req["_created"], "updated_at": int(time.time())}
        with self.lock:
            if task.polls_left > 0:
                task.polls_left -= 1
                first = task.polls_left == self.polls_before_done - 1
                return Reply(200, {**base, "status": "queued" if first else "running"})
        if task.outcome == "moderation":
            return Reply(200, {**base, "status": "failed", "error": {
                "code": "OutputVideoSensitiveContentDetected",
                "message": "The request failed because the output video may contain sensitive information."}})
        if task.outcome == "failed":
            return Reply(200, {**base, "status": "failed", "error": {
                "code": "InternalServiceError", "message": "The service encountered an unexpected internal error."}})
        if task.outcome in ("expired", "cancelled"):
            return Reply(200, {**base, "status": task.outcome, "error": None})
        width, height = req["_size"]
        seconds = req["_duration"]
        if not task.media:
            task.media.append(self.make_video(seconds, width, height))
        tokens = width * height * (24 * seconds + 1) // 1024  # matches the documented sample usages
        commands = req["_commands"]
        return Reply(200, {**base, "status": "succeeded", "content": {"video_url": self.file_url(task.media[0])},
                           "seed": int(commands.get("seed", "-1")), "resolution": commands.get("resolution"),
                           "ratio": commands.get("ratio"), "duration": seconds, "framespersecond": 24,
                           "service_tier": "default", "execution_expires_after": 172800,
                           "usage": {"completion_tokens": tokens, "total_tokens": tokens}})

    # -- Seedream --------------------------------------------------------------------------------

    def images(self, request: dict) -> Reply:
        self.requests.append(request)
        if not request.get("model") or not request.get("prompt"):
            return ark_error(400, "MissingParameter", "The request failed because it is missing `model` or `prompt`.")
        if "FORBIDDEN" in request["prompt"]:
            return ark_error(400, "InputTextSensitiveContentDetected",
                             "The request failed because the input text may contain sensitive information.")
        outcome = self.next_outcome.popleft() if self.next_outcome else "succeeded"
        if outcome == "moderation":
            return ark_error(400, "OutputImageSensitiveContentDetected",
                             "The request failed because the output image may contain sensitive information.")
        size = str(request.get("size", "1024x1024"))
        match = re.fullmatch(r"(\d+)x(\d+)", size)
        if not match:
            return ark_error(400, "InvalidParameter", f"The parameter `size` specified in the request is not valid: "
                                                      f"{size}")
        width, height = int(match[1]), int(match[2])
        with self.lock:
            self.submissions += 1
        name = self.make_image(width, height)
        return Reply(200, {"model": request["model"], "created": int(time.time()),
                           "data": [{"url": self.file_url(name), "size": size}],
                           "usage": {"generated_images": 1, "output_tokens": width * height // 256,
                                     "total_tokens": width * height // 256}})

