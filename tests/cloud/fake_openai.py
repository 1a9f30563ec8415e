"""A loopback OpenAI-compatible media server (shapes and sources: microdrama/cloud/openai_media.py).

It is strict where the real API is: `/audio/speech` rejects unknown fields (additionalProperties false),
`/videos` takes multipart only with `seconds` in "4" | "8" | "12", and `/videos/{id}/content` needs the key.
`next_outcome` "moderation" makes the next picture a 400 `moderation_blocked` and the next video a failed
task with that code; "failed" makes the next video fail with `video_generation_failed`.
"""

from __future__ import annotations

import base64
import json
import time

from tests.cloud.fakes import FakeProvider, Reply

BASE = "/v1"
SPEECH_FIELDS = {"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
VIDEO_SIZES = {"720x1280", "1280x720", "1024x1792", "1792x1024"}
REFUSAL = "Your request was rejected by the safety system."


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
          param: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes): a minimal multipart/form-data reader (no python-multipart here)."""
    boundary = next((p.split("=", 1)[1].strip('"') for p in content_type.split(";")
                     if p.strip().startswith("boundary=")), None)
    if not content_type.startswith("multipart/form-data") or not boundary:
        raise ValueError(f"not multipart/form-data: {content_type!r}")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part[2:].partition(b"\r\n\r\n")  # [2:]: the CRLF after the boundary line
        value = value[:-2] if value.endswith(b"\r\n") else value
        name = filename = None
        for line in head.decode("utf-8").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for item in line.split(";")[1:]:
                    key, _, raw = item.strip().partition("=")
                    if key == "name":
                        name = raw.strip('"')
                    elif key == "filename":
                        filename = raw.strip('"')
        if name:
            fields[name] = (filename, value)
    return fields


class FakeOpenAI(FakeProvider):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.uploads: dict[str, bytes] = {}  # video id -> the input_reference bytes it was given

    def unauthorised(self) -> Reply:
        return error(401, "Incorrect API key provided. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", code="invalid_api_key")

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        path = path.split("?")[0]
        if not path.startswith(BASE + "/"):
            return error(404, f"Invalid URL ({method} {path})")
        path = path[len(BASE):]
        if method == "POST" and path == "/images/generations":
            return self.images(json.loads(body or b"{}"))
        if method == "POST" and path == "/audio/speech":
            return self.speech(json.loads(body or b"{}"))
        if method == "POST" and path == "/videos":
            return self.create_video(headers, body)
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 2 and parts[0] == "videos":
            return self.get_video(parts[1])
        if method == "GET" and len(parts) == 3 and parts[0] == "videos" and parts[2] == "content":
            return self.content(parts[1])
        return error(404, f"Invalid URL ({method} {path})")

    # -- pictures and speech: synchronous -------------------------------------------------------

    def images(self, request: dict) -> Reply:
        scripted = self._scripted("submit")
        if scripted:
            return scripted
        for field in ("model", "prompt"):
            if not request.get(field):
                return error(400, f"Missing required parameter: '{field}'.", param=field)
        task = self.new_task("image", request)
        model = request["model"]
        if task.outcome == "moderation":
            code = "content_policy_violation" if model.startswith("dall-e") else "moderation_blocked"
            return error(400, REFUSAL, kind="image_generation_user_error", code=code)
        w, h = map(int, request.get("size", "1024x1024").split("x"))
        name = self.make_image(w, h)
        task.media = [name]
        if model.startswith("dall-e") and request.get("response_format") != "b64_json":
            return Reply(200, {"created": int(time.time()), "data": [{"url": self.file_url(name),
                                                                      "revised_prompt": request["prompt"]}]})
        b64 = base64.b64encode((self.files / name).read_bytes()).decode("ascii")
        answer = {"created": int(time.time()), "data": [{"b64_json": b64}]}
        if model.startswith("gpt-image"):
            answer.update({"background": "opaque", "output_format": "png", "quality": "high", "size": f"{w}x{h}",
                           "usage": {"input_tokens": 50, "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                                     "output_tokens": 6208,
                                     "output_tokens_details": {"image_tokens": 6208, "text_tokens": 0},
                                     "total_tokens": 6258}})
        return Reply(200, answer)

    def speech(self, request: dict) -> Reply:
        scripted = self._scripted("submit")
        if scripted:
            return scripted
        unknown = sorted(set(request) - SPEECH_FIELDS)
        if unknown:
            return error(400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
        for field in ("model", "input", "voice"):
            if not request.get(field):
                return error(400, f"Missing required parameter: '{field}'.", param=field)
        if request.get("response_format", "mp3") != "wav":
            return error(400, "this fake only speaks WAV", param="response_format")
        if not 0.25 <= float(request.get("speed", 1.0)) <= 4.0:
            return error(400, "speed must be between 0.25 and 4.0", param="speed")
        self.new_task("speech", request)
        return Reply(200, self.make_wav(request["input"]), {"Content-Type": "audio/wav"})

    # -- videos: asynchronous -------------------------------------------------------------------

    def create_video(self, headers: dict[str, str], body: bytes) -> Reply:
        scripted = self._scripted("submit")
        if scripted:
            return scripted
        try:
            form = parse_multipart(headers.get("content-type", ""), body)
        except ValueError as exc:
            return error(400, f"Invalid content type: this endpoint takes multipart/form-data ({exc})")
        fields = {k: v.decode("utf-8") for k, (filename, v) in form.items() if filename is None}
        if not fields.get("prompt"):
            return error(400, "Missing required parameter: 'prompt'.", param="prompt")
        seconds, size = fields.get("seconds", "4"), fields.get("size", "720x1280")
        if seconds not in ("4", "8", "12"):
            return error(400, f"Invalid value: '{seconds}'. Supported values are: '4', '8', and '12'.",
                         param="seconds", code="invalid_value")
        if size not in VIDEO_SIZES:
            return error(400, f"Invalid value: '{size}'.", param="size", code="invalid_value")
        task = self.new_task("video", {**fields, "seconds": seconds, "size": size})
        with self.lock:  # OpenAI video ids look like video_123
            del self.tasks[task.id]
            task.id = f"video_{task.id}"
            self.tasks[task.id] = task
        if "input_reference" in form:
            self.uploads[task.id] = form["input_reference"][1]
        return Reply(200, self.video_object(task, "queued"))

    def video_object(self, task, status: str, err: dict | None = None) -> dict:
        return {"id": task.id, "object": "video", "model": task.request.get("model", "sora-2"), "status": status,
                "progress": {"queued": 0, "in_progress": 50}.get(status, 100), "created_at": 1712697600,
                "completed_at": 1712697700 if status == "completed" else None,
                "expires_at": 1712784100 if status == "completed" else None, "prompt": task.request.get("prompt"),
                "size": task.request["size"], "seconds": task.request["seconds"], "quality": "standard",
                "remixed_from_video_id": None, "error": err}

    def get_video(self, video_id: str) -> Reply:
        scripted = self._scripted("poll")
        if scripted:
            return scripted
        task = self.tasks.get(video_id)
        if task is None or task.kind != "video":
            return error(404, f"Video with id '{video_id}' not found.", param="video_id")
        if task.polls_left > 0:
            task.polls_left -= 1
            return Reply(200, self.video_object(task, "in_progress"))
        if task.outcome == "moderation":
            return Reply(200, self.video_object(task, "failed", {"code": "moderation_blocked", "message": REFUSAL}))
        if task.outcome in ("failed", "expired"):
            return Reply(200, self.video_object(task, "failed", {"code": "video_generation_failed",
                                                                 "message": "Video generation failed."}))
        if not task.media:
            w, h = map(int, task.request["size"].split("x"))
            task.media = [self.make_video(float(task.request["seconds"]), w, h)]
        return Reply(200, self.video_object(task, "completed"))

    def content(self, video_id: str) -> Reply:
        scripted = self._scripted("download")
        if scripted:
            return scripted
        task = self.tasks.get(video_id)
        if task is None or not task.media:
            return error(404, f"Video with id '{video_id}' has no content yet.", param="video_id")
        return Reply(200, (self.files / task.media[0]).read_bytes(), {"Content-Type": "video/mp4"})
