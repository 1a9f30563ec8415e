"""A loopback MiniMax: Hailuo video tasks, task queries and file retrieval in the documented shapes.

Shapes from MiniMax's API reference (create, query, retrieve, error codes), as read 2026-11-27 for
`microdrama/cloud/minimax.py`. Like the real API it answers HTTP 200 with errors in `base_resp`, and
text-to-video clips are 16:9 whatever the shot (the v1 API takes no aspect ratio); served under `/v1`.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

from PIL import Image

from tests.cloud.fakes import FakeProvider, Reply

PREFIX = "/v1"
LANDSCAPE = {"512P": (912, 512), "720P": (1280, 720), "768P": (1366, 768), "1080P": (1920, 1080)}


def base_resp(code: int = 0, message: str = "success", **fields) -> Reply:
    """Every MiniMax answer: HTTP 200 and `base_resp: {status_code, status_msg}` (error-code page)."""
    return Reply(200, {**fields, "base_resp": {"status_code": code, "status_msg": message}})


class FakeMiniMax(FakeProvider):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.polls_before_done = 2  # Queueing, then Processing, then the result
        self.requests: list[dict] = []
        self.file_ids: dict[str, str] = {}  # file_id -> file name

    def unauthorised(self) -> Reply:
        return base_resp(1004, "login fail: Please carry the API secret key in the 'Authorization' field")

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        parsed = urlparse(path)
        route, query = parsed.path.removeprefix(PREFIX), {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if method == "POST" and route == "/video_generation":
            return self._scripted("submit") or self.create(json.loads(body or b"{}"))
        if method == "GET" and route == "/query/video_generation":
            return self._scripted("poll") or self.query(query.get("task_id", ""))
        if method == "GET" and route == "/files/retrieve":
            return self._scripted("retrieve") or self.retrieve(query.get("file_id", ""))
        return Reply(404, "404 page not found")

    def create(self, request: dict) -> Reply:
        self.requests.append(request)
        prompt = request.get("prompt", "")
        if not request.get("model") or (not prompt and not request.get("first_frame_image")):
            return base_resp(2013, "invalid params, model and prompt are required")
        if "FORBIDDEN" in prompt:
            return base_resp(1026, "input new_sensitive")
        resolution, duration = request.get("resolution", "768P"), request.get("duration", 6)
        if resolution not in LANDSCAPE or duration not in (6, 10) or (resolution == "1080P" and duration != 6):
            return base_resp(2013, f"invalid params, resolution {resolution} with duration {duration}")
        size = LANDSCAPE[resolution]
        if request.get("first_frame_image"):  # an image-to-video clip follows its first frame's shape
            image = request["first_frame_image"]
            if not image.startswith(("http://", "https://", "data:image/")):
                return base_resp(2013, "invalid params, first_frame_image")
            size = (size[1], size[0]) if self._portrait(image) else size
        task = self.new_task("video", {**request, "_size": size})
        with self.lock:  # MiniMax ids are decimal strings
            old, task.id = task.id, f"10629{task.id[-4:]}"
            self.tasks[task.id] = self.tasks.pop(old)
        return base_resp(task_id=task.id)

    @staticmethod
    def _portrait(data_uri: str) -> bool:
        import base64
        import io

        with Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))) as img:
            return img.height > img.width

    def query(self, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None:
            return base_resp(2013, f"invalid params, task {task_id} not found")
        with self.lock:
            if task.polls_left > 0:
                task.polls_left -= 1
                first = task.polls_left == self.polls_before_done - 1
                return base_resp(task_id=task.id, status="Queueing" if first else "Processing")
        if task.outcome == "moderation":
            return base_resp(1027, "output new_sensitive", task_id=task.id, status="Fail")
        if task.outcome in ("failed", "expired"):
            return base_resp(1000, "unknown error", task_id=task.id, status="Fail")
        width, height = task.request["_size"]
        if not task.media:
            # 12 fps keeps the tests quick; the real clips are 24-25 fps
            task.media.append(self.make_video(task.request.get("duration", 6), width, height, fps=12))
            self.file_ids[f"2047{len(self.file_ids) + 1:05d}"] = task.media[0]
        file_id = next(f for f, name in self.file_ids.items() if name == task.media[0])
        return base_resp(task_id=task.id, status="Success", file_id=file_id, video_width=width,
                         video_height=height)

    def retrieve(self, file_id: str) -> Reply:
        name = self.file_ids.get(file_id)
        if name is None:
            return base_resp(2013, f"invalid params, file {file_id} not found")
        return base_resp(file={"file_id": int(file_id), "bytes": (self.files / name).stat().st_size,
                               "created_at": int(time.time()), "filename": "output_aigc.mp4",
                               "purpose": "video_generation", "download_url": self.file_url(name)})
