"""Loopback fakes of model-API providers: real HTTP on 127.0.0.1, real media in the answers.

`FakeProvider` holds what every provider fake shares: tasks that move through states on each poll,
scripted trouble (429 with Retry-After, 500, a moderation refusal, an expired task, a hang, a cut
download, a wrong key), counts of what it saw, and media made on the spot (an H.264 clip of the
requested length, a PNG, a WAV). A provider's fake subclasses it and speaks that provider's
documented shapes (see `tests/cloud/fake_<provider>.py`).
"""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from microdrama.media import ffmpeg_exe

KEY = "sk-fake-cloud-KEY-0123456789abcdef"


@dataclass
class Reply:
    status: int
    body: bytes | dict | list | str
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/plain; charset=utf-8"
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8"), "application/json"


@dataclass
class Task:
    id: str
    kind: str
    request: dict
    polls_left: int = 1  # polls answered "running" before the result
    outcome: str = "succeeded"  # succeeded | moderation | failed | expired
    media: list[str] = field(default_factory=list)  # file names under /files/


class FakeProvider:
    """Common state and media; subclasses map requests to their provider's shapes in `route`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.tasks: dict[str, Task] = {}
        self.trouble: dict[str, deque[Reply]] = defaultdict(deque)  # "submit" | "poll" | "download" -> replies
        self.next_outcome: deque[str] = deque()  # outcomes of the next tasks, in order
        self.polls_before_done = 1
        self.polls_by_kind: dict[str, int] = {}  # e.g. {"video": 10_000}: only video jobs hang
        self.seen: list[dict] = []  # every request: method, path, authorised
        self.submissions = 0
        self.truncate_downloads = 0  # how many of the next downloads are cut off halfway
        self.bill_factor = 1.0  # a provider billing more than it was asked for (a tier that drifted)
        self.label_json: str | None = None  # a provider that embeds its own TC260 label in what it returns
        self.url = ""
        self.made = 0
        self.lock = threading.Lock()

    # -- scripting --------------------------------------------------------------------------------

    def then(self, where: str, status: int, body: Any = None, headers: dict | None = None,
             delay_s: float = 0.0) -> "FakeProvider":
        self.trouble[where].append(Reply(status, body if body is not None else {"message": "scripted"},
                                         headers or {}, delay_s))
        return self

    # -- media ------------------------------------------------------------------------------------

    def make_video(self, seconds: float, width: int, height: int, fps: int = 24) -> str:
        name = self._name("v", "mp4")
        import subprocess

        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(self.files / name)], check=True)
        if self.label_json:
            from microdrama.labels.carriers import write_label

            write_label(self.files / name, self.label_json)
        return name

    def make_image(self, width: int, height: int, seed: int = 0) -> str:
        name = self._name("i", "png")
        rng = np.random.default_rng(seed)  # the same request gives the same picture, as a seeded model would
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(self.files / name)
        return name

    def _name(self, prefix: str, ext: str) -> str:
        with self.lock:
            self.made += 1
            return f"{prefix}{self.made}.{ext}"

    @staticmethod
    def make_wav(text: str, rate: int = 24000) -> bytes:
        seconds = 0.3 + 0.12 * len(text)
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples.tobytes())
        return buf.getvalue()

    def new_task(self, kind: str, request: dict) -> Task:
        with self.lock:
            self.submissions += 1
            task = Task(id=f"task-{self.submissions:04d}", kind=kind, request=request,
                        polls_left=self.polls_by_kind.get(kind, self.polls_before_done),
                        outcome=self.next_outcome.popleft() if self.next_outcome else "succeeded")
            self.tasks[task.id] = task
            return task

    # -- HTTP -------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        authorised = self.authorised(headers)
        self.seen.append({"method": method, "path": path, "authorised": authorised})
        if path.startswith("/files/"):
            scripted = self._scripted("download")
            if scripted:
                return scripted
            data = (self.files / path.split("/files/", 1)[1].split("?")[0]).read_bytes()
            if self.truncate_downloads > 0:
                self.truncate_downloads -= 1
                return Reply(200, data[: len(data) // 2], {"Content-Type": "video/mp4", "Content-Length": str(len(data))})
            return Reply(200, data, {"Content-Type": "application/octet-stream"})
        if not authorised:
            return self.unauthorised()
        return self.route(method, path, headers, body)

    def _scripted(self, where: str) -> Reply | None:
        with self.lock:
            return self.trouble[where].popleft() if self.trouble[where] else None

    def authorised(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {KEY}"

    def unauthorised(self) -> Reply:
        return Reply(401, {"code": "InvalidApiKey", "message": "Invalid API-key provided."})

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:  # pragma: no cover
        raise NotImplementedError

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}?Expires=86400&Signature=fake"


def serve(provider: FakeProvider):
    """Serve `provider` on a free loopback port; returns (server, thread). `provider.url` is set."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _do(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = provider.handle(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data, kind = reply.encoded()
            self.send_response(reply.status)
            headers = {"Content-Type": kind, "Content-Length": str(len(data)), **reply.headers}
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_DELETE = _do

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
