"""A loopback DashScope that speaks the documented shapes (see microdrama/cloud/dashscope.py for the sources)."""

from __future__ import annotations

import json

from tests.cloud.fakes import FakeProvider, Reply

BASE = "/api/v1"


class FakeDashScope(FakeProvider):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.requests: list[dict] = []  # synchronous (speech) request bodies, as sent
    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        path = path.split("?")[0]
        if not path.startswith(BASE):
            return Reply(404, {"code": "NotFound", "message": path})
        path = path[len(BASE):]
        request = json.loads(body or b"{}")
        if method == "POST" and path in ("/services/aigc/video-generation/video-synthesis",
                                         "/services/aigc/text2image/image-synthesis"):
            return self.submit(path, headers, request)
        if method == "POST" and path in ("/services/audio/tts/SpeechSynthesizer",
                                         "/services/aigc/multimodal-generation/generation"):
            scripted = self._scripted("submit")
            if scripted:
                return scripted
            self.submissions += 1
            self.requests.append(request)
            text = request["input"]["text"]
            name = f"a{self.submissions}.wav"
            (self.files / name).write_bytes(self.make_wav(text))
            return Reply(200, {"request_id": "r", "output": {"finish_reason": "stop", "audio": {
                "data": "", "url": self.file_url(name), "id": "audio_x", "expires_at": 1772697707}},
                "usage": {"characters": len(text)}})
        if method == "GET" and path.startswith("/tasks/"):
            return self.poll(path.rsplit("/", 1)[1])
        return Reply(404, {"code": "NotFound", "message": path})

    def submit(self, path: str, headers: dict[str, str], request: dict) -> Reply:
        if headers.get("x-dashscope-async") != "enable":
            return Reply(403, {"code": "AccessDenied", "message": "current user api does not support synchronous calls"})
        scripted = self._scripted("submit")
        if scripted:
            return scripted
        if "FORBIDDEN" in request.get("input", {}).get("prompt", ""):
            return Reply(400, {"code": "DataInspectionFailed",
                               "message": "Input data may contain inappropriate content.", "request_id": "r"})
        task = self.new_task("video" if "video" in path else "image", request)
        return Reply(200, {"output": {"task_status": "PENDING", "task_id": task.id}, "request_id": "r"})

    def poll(self, task_id: str) -> Reply:
        scripted = self._scripted("poll")
        if scripted:
            return scripted
        task = self.tasks.get(task_id)
        if task is None or task.outcome == "expired":
            return Reply(200, {"request_id": "r", "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
        if task.polls_left > 0:
            task.polls_left -= 1
            return Reply(200, {"request_id": "r", "output": {"task_id": task_id, "task_status": "RUNNING"}})
        if task.outcome == "moderation":
            return Reply(200, {"request_id": "r", "output": {"task_id": task_id, "task_status": "FAILED",
                                                             "code": "DataInspectionFailed",
                                                             "message": "Output data may contain inappropriate content."}})
        if task.outcome == "failed":
            return Reply(200, {"request_id": "r", "output": {"task_id": task_id, "task_status": "FAILED",
                                                             "code": "InternalError", "message": "engine error"}})
        params = task.request.get("parameters", {})
        if task.kind == "video":
            if not task.media:
                w, h = map(int, params.get("size", "720*1280").split("*")) if "size" in params else (720, 1280)
                task.media = [self.make_video(params.get("duration", 5), w, h)]
            return Reply(200, {"request_id": "r", "output": {"task_id": task_id, "task_status": "SUCCEEDED",
                                                             "video_url": self.file_url(task.media[0])},
                               "usage": {"duration": params.get("duration", 5) * self.bill_factor, "video_count": 1,
                                         "SR": 720}})
        if not task.media:
            w, h = map(int, params.get("size", "720*1280").split("*"))
            task.media = [self.make_image(w, h, params.get("seed", 0))]
        return Reply(200, {"request_id": "r", "output": {
            "task_id": task_id, "task_status": "SUCCEEDED", "results": [{"url": self.file_url(task.media[0])}],
            "task_metrics": {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}}, "usage": {"image_count": 1}})
