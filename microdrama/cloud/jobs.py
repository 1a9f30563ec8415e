"""One client for paid generation jobs on model APIs: submit → poll → download, exactly once.

Video models take minutes; a process can die in between. So the provider's task id is written to
the step's *journal* (a folder of the content-addressed store that outlives the step's private
folder) **before** the first poll: a re-run of the same step finds it and polls the same paid task
instead of paying for a new one. A request that was sent but whose answer never arrived leaves a
`submitting` record; the next run refuses to guess (it may have been charged) and says what to do.

Every HTTP attempt counts (`api_calls`, `api_calls_failed`) and leaves a line in the job's attempt log
(`<job>.attempts.jsonl` beside its journal record: when, submit/poll/retrieve/download, the HTTP status,
what came of it, and whether it is the attempt that created the paid task), so a crashed run's attempts
are kept too and numbered on by the next one. 429 and 5xx are retried with jittered exponential backoff
that honours `Retry-After`; 401/403 and content-moderation refusals are not
retried (a moderation refusal is `ModerationError` carrying the provider's reason). Downloads are
checked (size against Content-Length, decodable media) and written atomically. The API key is read
from the environment or the keyring when a request is made and never written anywhere.

Provider specifics (paths, JSON shapes, status names) live in one adapter file per provider
(`microdrama/cloud/<provider>.py`); this module knows none of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

import httpx
from pydantic import Field, field_validator

from microdrama.domain import Strict
from microdrama.errors import InputError, MicrodramaError
from microdrama.files import atomic_path, atomic_write_text
from microdrama.llm.provider import host_of, plain_api_url

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
JobKind = Literal["video", "image", "speech"]


# ---- configuration ---------------------------------------------------------------------------------


class CloudProvider(Strict):
    """A model-API account: which adapter speaks to it, where, and how hard to push it."""

    adapter: Literal["dashscope", "ark", "openai", "kling", "minimax"] = Field(
        description="the provider's API: dashscope (Alibaba Model Studio), ark (Volcengine), openai (compatible), "
                    "kling (Kling AI), minimax (MiniMax Hailuo)")
    base_url: str = Field(description="the API root, e.g. https://dashscope.aliyuncs.com/api/v1")
    api_key_env: str = Field(description="the environment variable holding the key (never the key itself); for "
                                         "kling, the access key")
    secret_key_env: str | None = Field(None, description="kling only: the environment variable holding the secret "
                                                         "key that signs each request's token (never the key)")
    timeout_s: float = Field(60.0, gt=0, le=600, description="one HTTP request")
    job_timeout_s: float = Field(1800.0, gt=0, le=6 * 3600, description="one job from submit to result, up to 6 h")
    poll_interval_s: float = Field(5.0, ge=0, le=300, description="first wait between polls; grows to 60 s")
    max_retries: int = Field(4, ge=0, le=20, description="retries of one request on 429, 5xx and timeouts")
    backoff_s: float = Field(2.0, ge=0, le=120, description="first retry delay; doubles, with jitter")
    max_concurrency: int = Field(2, ge=1, le=64, description="jobs in flight at once on this account")
    requests_per_minute: int = Field(120, ge=1, le=100000, description="client-side limit on requests (submits, "
                                     "polls, downloads) to this account; e.g. DashScope Wan takes 2 submits/s")

    @field_validator("base_url")
    @classmethod
    def _plain_url(cls, v: str) -> str:
        return plain_api_url(v, "https://dashscope.aliyuncs.com/api/v1", "the variable named by api_key_env")

    @property
    def host(self) -> str:
        return host_of(self.base_url)

    def api_key(self) -> str:
        """The key; for an account that signs its requests, also checks that the secret is there, so the
        check made before a run starts covers both."""
        key = _secret(self.api_key_env)
        if not key:
            raise InputError(f"no API key for {self.host}: set the environment variable {self.api_key_env} "
                             "(or store it in the OS keyring under service 'microdrama')")
        if self.secret_key_env:
            self.secret_key()
        return key

    def secret_key(self) -> str:
        if not self.secret_key_env:
            raise InputError(f"the {self.adapter} account at {self.host} signs its requests: set secret_key_env to "
                             "the environment variable holding its secret key, e.g. KLING_SECRET_KEY")
        secret = _secret(self.secret_key_env)
        if not secret:
            raise InputError(f"no secret key for {self.host}: set the environment variable {self.secret_key_env} "
                             "(or store it in the OS keyring under service 'microdrama')")
        return secret

    def secrets(self) -> list[str]:
        """Every secret this account holds right now (to be blanked out of messages); none is an error."""
        return [s for s in (_secret(self.api_key_env), _secret(self.secret_key_env) if self.secret_key_env else None)
                if s]


def _secret(env: str) -> str | None:
    value = os.environ.get(env)
    if not value:
        try:  # optional: the OS keyring, service "microdrama"
            import keyring  # type: ignore

            value = keyring.get_password("microdrama", env)
        except Exception:
            value = None
    return value or None


class JobSpec(Strict):
    """What a cloud skill asks for, in the provider's terms already chosen by the skill."""

    kind: JobKind
    model: str = Field(min_length=1)
    prompt: str = ""
    text: str = Field("", description="speech: the words to say")
    voice: str | None = Field(None, description="speech: the provider's voice name")
    image: str | None = Field(None, description="a local image: the first frame (video) or a reference (image)")
    duration_s: float | None = Field(None, gt=0, description="video: one of the model's allowed durations")
    width: int | None = Field(None, ge=64, le=8192)
    height: int | None = Field(None, ge=64, le=8192)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    speed: float = Field(1.0, gt=0.2, lt=5, description="speech rate")
    instruction: str | None = Field(None, description="speech: how to say it, for engines that take a "
                                                      "natural-language instruction")
    extra: dict[str, Any] = Field(default_factory=dict, description="provider-specific parameters, passed through")

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()


# ---- what adapters return ----------------------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request, as an adapter describes it (the client adds the key and sends it)."""

    method: str
    path: str  # relative to base_url, or an absolute URL
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


@dataclass
class JobState:
    """A job's status in provider-neutral terms."""

    state: Literal["pending", "running", "succeeded", "failed"]
    media: list[str] = field(default_factory=list)  # URLs to download (or "data:" URIs)
    audio: bytes | None = None  # a synchronous answer that is the media itself
    billed: dict[str, float] = field(default_factory=dict)  # billing quantities the provider reports
    error_code: str | None = None
    error_message: str | None = None
    moderation: bool = False  # refused for content: never retried
    upstream_labels: dict[str, str] = field(default_factory=dict)  # e.g. the provider's watermark setting


class Adapter(ABC):
    """A provider's API in one file: how to submit, poll and read its answers. No I/O here."""

    name: ClassVar[str]
    counterparty: ClassVar[str]  # the company on the contract and the invoice (voucher claims name it)
    docs: ClassVar[str]  # the API documents the shapes were taken from
    checked_on: ClassVar[str]  # when those documents were read (YYYY-MM-DD)
    sync_kinds: ClassVar[frozenset[str]] = frozenset()  # kinds answered in the submit response itself

    @abstractmethod
    def submit(self, spec: JobSpec) -> Call: ...

    @abstractmethod
    def accepted(self, spec: JobSpec, payload: Any, response: httpx.Response) -> str | JobState:
        """The task id from the submit answer; or, for synchronous kinds, the finished JobState."""

    def poll(self, task_id: str) -> Call:
        """Asynchronous adapters only; a synchronous one answers in `accepted`, so nothing calls this."""
        raise TypeError(f"{self.name} answers at once: there is no task to poll")

    def status(self, payload: Any) -> JobState:
        raise TypeError(f"{self.name} answers at once: there is no task status to read")

    def video_durations(self, model: str) -> tuple[float, ...]:
        """The clip lengths (seconds) this model can be asked for, shortest first."""
        return (5.0,)

    def video_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        """The supported output size nearest to `width`×`height` (same orientation) for this model."""
        return width, height

    def image_size(self, model: str, width: int, height: int) -> tuple[int, int]:
        return width, height

    def download(self, url: str) -> Call:
        """How to fetch a result URL (most are pre-signed and need no key)."""
        return Call("GET", url, headers={"X-Microdrama-No-Auth": "1"})

    def billed_as_asked(self, spec: JobSpec) -> dict[str, float]:
        """For providers whose answers report no usage: what a finished job bills, from the request."""
        return {}

    def locate(self, media: str) -> Call | None:
        """For providers whose finished task names a file, not a URL: the request that asks where it is."""
        return None

    def located(self, payload: Any) -> str:
        """The download URL in the answer to `locate`'s request."""
        raise TypeError(f"{self.name} names its results by URL: there is nothing to locate")

    def authorization(self, provider: "CloudProvider") -> str:
        """The Authorization header of one request (read from the environment when it is sent)."""
        return f"Bearer {provider.api_key()}"

    def answer_status(self, status: int, payload: Any) -> int:
        """The HTTP status an answer stands for: providers that answer 200 with an error code in the body
        map it here (to 429 to be retried, 401 for a bad key, 400 for a refusal …)."""
        return status

    def error_of(self, payload: Any) -> tuple[str | None, str]:
        """(code, message) of an error answer, for messages and moderation detection."""
        if isinstance(payload, dict):
            err = payload.get("error") if isinstance(payload.get("error"), dict) else payload
            return (err.get("code") or err.get("type")), str(err.get("message") or err)[:400]
        return None, str(payload)[:400]

    def is_moderation(self, code: str | None, message: str) -> bool:
        return False


# ---- errors ------------------------------------------------------------------------------------------


class CloudError(MicrodramaError):
    """A paid job did not give a result; `quantities` holds the attempts it took (recorded before raising).
    `refused` means the provider rejected the request itself (a 4xx other than 408/409/425/429)."""

    def __init__(self, message: str, usage: dict[str, float] | None = None, refused: bool = False,
                 task_id: str | None = None) -> None:
        super().__init__(message)
        self.quantities = usage or {}
        self.refused = refused
        self.task_id = task_id  # the paid task that failed, when there was one: its cost is booked once


class ModerationError(CloudError):
    """The provider refused the content (its reason is in the message). Retrying as-is will not help."""


class UncertainSubmission(CloudError):
    """A submit request went out but no task id came back: it may have been accepted and charged."""


# ---- the client --------------------------------------------------------------------------------------


class _Slots:
    """At most `max_concurrency` jobs in flight per provider account, across the threads of a process.
    Across workers, the pipeline also takes a Prefect global concurrency limit named after the host."""

    _lock = threading.Lock()
    _by_account: dict[str, threading.BoundedSemaphore] = {}

    @classmethod
    def of(cls, provider: CloudProvider) -> threading.BoundedSemaphore:
        account = f"{provider.host}:{provider.api_key_env}"
        with cls._lock:
            if account not in cls._by_account:
                cls._by_account[account] = threading.BoundedSemaphore(provider.max_concurrency)
            return cls._by_account[account]


@dataclass
class JobOutcome:
    files: list[Path]
    task_id: str | None
    resumed: bool  # polled a task an earlier (crashed) run had submitted
    quantities: dict[str, float]
    upstream_labels: dict[str, str]
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every HTTP attempt of this job, all runs
    job: str = ""  # the job's name in the step's journal


@dataclass
class JobClient:
    provider: CloudProvider
    adapter: Adapter
    journal: Path  # survives the step: where the task id is kept before polling
    transport: httpx.BaseTransport | None = None  # tests hand in a fake; None = the real network
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] | None = None
    counts: dict[str, float] = field(default_factory=lambda: {"api_calls": 0.0, "api_calls_failed": 0.0})
    attempt_log: Path | None = None  # the running job's attempt log (one JSON line per HTTP attempt)

    # -- one job -----------------------------------------------------------------------------------

    def run(self, spec: JobSpec, dest_dir: Path, name: str) -> JobOutcome:
        """Submit (or resume) the job named `name`, wait for it, and download its media into `dest_dir`."""
        self.counts = {"api_calls": 0.0, "api_calls_failed": 0.0}  # this job's attempts
        record_path = self.journal / f"{name}.json"
        self.attempt_log = self.journal / f"{name}.attempts.jsonl"
        record = _read_record(record_path)
        with _Slots.of(self.provider):
            resumed = False
            if record and record.get("spec") != spec.fingerprint():
                record = None  # the same step with another request: a new job
            if record and record.get("state") == "submitting":
                raise UncertainSubmission(
                    f"{self.adapter.name}: a {spec.kind} job was sent at {record.get('at')} but the run stopped "
                    "before the provider's answer was saved, so it may have been accepted and charged. Check the "
                    f"provider's console for a task created then; to submit again, delete {record_path}",
                    self._quantities())
            if record and (record.get("task_id") or record.get("media") or record.get("answer")):
                task_id, resumed = record.get("task_id"), True
                self._say(f"resuming {self.adapter.name} job {task_id or name} (submitted {record.get('at')})")
                state = None if task_id else _answered(record, self.journal)
            else:
                call = self.adapter.submit(spec)  # a request the adapter refuses to build was never sent
                _write_record(record_path, {"state": "submitting", "spec": spec.fingerprint(), "at": _now()})
                try:
                    payload, response = self._send(call, what="submit")
                except CloudError as exc:
                    if exc.refused:  # the provider said no to the request itself: nothing was created or charged
                        record_path.unlink(missing_ok=True)
                    raise
                got = self.adapter.accepted(spec, payload, response)
                task_id = got if isinstance(got, str) else None
                state = got if isinstance(got, JobState) else None
                record = {"state": "submitted", "spec": spec.fingerprint(), "at": _now(), "task_id": task_id,
                          "provider": self.provider.host}
                if state is not None:  # answered at once: keep the answer, so a failed download is not paid again
                    record.update(_keep_answer(state, self.journal, name))
                _write_record(record_path, record)
            if state is None:
                state = self._wait(task_id)
            if state.state == "failed":
                self._fail(state, task_id)
            state.billed = {**self.adapter.billed_as_asked(spec), **state.billed}
            files = self._fetch(state, dest_dir, name)
            _write_record(record_path, {"state": "done", "spec": spec.fingerprint(), "at": _now(),
                                        "task_id": task_id, "files": [f.name for f in files]})
        return JobOutcome(files=files, task_id=task_id, resumed=resumed,
                          quantities={**self._quantities(), **state.billed}, upstream_labels=state.upstream_labels,
                          attempts=read_attempts(self.attempt_log), job=name)

    def _wait(self, task_id: str) -> JobState:
        deadline = self.clock() + self.provider.job_timeout_s
        interval = self.provider.poll_interval_s
        while True:
            payload, response = self._send(self.adapter.poll(task_id), what="poll")
            state = self.adapter.status(payload)
            if state.state in ("succeeded", "failed"):
                return state
            if self.clock() >= deadline:
                raise CloudError(f"{self.adapter.name} task {task_id} still {state.state} after "
                                 f"{self.provider.job_timeout_s:g} s (provider.job_timeout_s); it is kept in the "
                                 "journal: run again to keep waiting for it", self._quantities())
            wait = _retry_after(response) or interval
            self.sleep(min(wait, max(0.0, deadline - self.clock())) * random.uniform(0.9, 1.1))
            interval = min(60.0, max(interval, 0.5) * 1.5)

    def _fail(self, state: JobState, task_id: str | None) -> None:
        detail = f"{state.error_code or 'failed'}: {state.error_message or 'no reason given'}"
        billed = {**self._quantities(), **state.billed}  # what a provider bills for a failed task is costed too
        if state.moderation or self.adapter.is_moderation(state.error_code, state.error_message or ""):
            raise ModerationError(f"{self.adapter.name} refused the content ({detail}); change the prompt or "
                                  "image — retrying the same request will be refused again", billed)
        raise CloudError(f"{self.adapter.name} task {task_id} failed ({detail})", billed, task_id=task_id)

    # -- HTTP with retries and counting ------------------------------------------------------------

    def _send(self, call: Call, what: str) -> tuple[Any, httpx.Response]:
        delay = self.provider.backoff_s
        last = "no attempt made"
        for attempt in range(self.provider.max_retries + 1):
            self.counts["api_calls"] += 1
            status, response, error = None, None, None
            try:
                response = self._request(call)
                payload = _payload(response)
                status = self.adapter.answer_status(response.status_code, payload)
                if status < 400:
                    self._attempt(what, response.status_code, "ok", billed=what == "submit")
                    return payload, response
                code, message = self.adapter.error_of(payload)
                if self.adapter.is_moderation(code, message):
                    self.counts["api_calls_failed"] += 1
                    self._attempt(what, response.status_code, "moderation", note=f"{code}")
                    raise ModerationError(f"{self.adapter.name} refused the content ({code}: {message}); change "
                                          "the prompt or image — retrying the same request will be refused again",
                                          self._quantities(), refused=True)
                error = f"HTTP {status} {code or ''}: {message}".replace("  ", " ")
            except httpx.TimeoutException:
                error = f"timed out after {self.provider.timeout_s:g} s"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.counts["api_calls_failed"] += 1
            last = self._redact(error)
            final = status is not None and (status in (401, 403) or (status not in RETRY_STATUS and status < 500))
            self._attempt(what, response.status_code if response is not None else None,
                          "refused" if final else "retry" if attempt < self.provider.max_retries else "error",
                          note=last[:200])
            if status in (401, 403):
                raise CloudError(f"{self.adapter.name} {what}: {last} — check the key in {self.provider.api_key_env}",
                                 self._quantities(), refused=True)
            if status is not None and status not in RETRY_STATUS and status < 500:
                raise CloudError(f"{self.adapter.name} {what}: {last}", self._quantities(), refused=True)
            if attempt == self.provider.max_retries:
                break
            wait = (_retry_after(response) if response is not None else None) or delay
            self._say(f"{self.adapter.name} {what}: {last}; retrying in {wait:.1f} s")
            self.sleep(wait * random.uniform(0.8, 1.2))
            delay *= 2
        raise CloudError(f"{self.adapter.name} {what}: {last} (after {attempt + 1} attempt(s))", self._quantities())

    def _request(self, call: Call) -> httpx.Response:
        from microdrama.llm.client import RateLimiter  # one limiter per account, shared by every thread

        RateLimiter.for_provider(f"cloud:{self.provider.host}:{self.provider.api_key_env}",
                                 self.provider.requests_per_minute).wait()
        url = call.path if call.path.startswith(("http://", "https://")) else f"{self.provider.base_url}{call.path}"
        headers = dict(call.headers)
        if headers.pop("X-Microdrama-No-Auth", None) is None:
            headers["Authorization"] = self.adapter.authorization(self.provider)
        with httpx.Client(timeout=self.provider.timeout_s, transport=self.transport, follow_redirects=True) as http:
            return http.request(call.method, url, json=call.json, headers=headers, files=call.files, data=call.data)

    # -- results -----------------------------------------------------------------------------------

    def _fetch(self, state: JobState, dest_dir: Path, name: str) -> list[Path]:
        dest_dir.mkdir(parents=True, exist_ok=True)
        if state.audio is not None:
            return [self._store(state.audio, dest_dir / f"{name}.bin", expected=None)]
        if not state.media:
            raise CloudError(f"{self.adapter.name} reported success but named no file", self._quantities())
        files = []
        for i, url in enumerate(state.media):
            if url.startswith("data:"):
                import base64

                files.append(self._store(base64.b64decode(url.split(",", 1)[1]), dest_dir / f"{name}-{i}.bin", None))
                continue
            try:
                lookup = self.adapter.locate(url)
                if lookup is not None:  # the task named a file: ask where it is (a fresh URL on every run)
                    payload, _ = self._send(lookup, what="retrieve")
                    url = self.adapter.located(payload)
                _, response = self._send(self.adapter.download(url), what="download")
            except CloudError as exc:
                raise CloudError(f"{exc} — the job itself is done and kept in the journal: run again to fetch it "
                                 "again (it is not paid for twice)", exc.quantities) from None
            expected = response.headers.get("Content-Length")
            files.append(self._store(response.content, dest_dir / f"{name}-{i}.bin",
                                     int(expected) if expected and expected.isdigit() else None))
        return files

    def _store(self, data: bytes, path: Path, expected: int | None) -> Path:
        path = path.with_suffix(media_suffix(data))  # named for what it is, so labels and credentials can be read
        if expected is not None and len(data) != expected:
            raise CloudError(f"{self.adapter.name}: download cut short ({len(data)} of {expected} bytes); run again "
                             "to fetch it again (the job is not paid for twice)", self._quantities())
        if not data:
            raise CloudError(f"{self.adapter.name}: the result file is empty", self._quantities())
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return path

    # -- small things ------------------------------------------------------------------------------

    def _quantities(self) -> dict[str, float]:
        return dict(self.counts)

    def _attempt(self, kind: str, status: int | None, outcome: str, billed: bool = False, note: str = "") -> None:
        """One line per HTTP attempt, appended as soon as its answer (or failure) is known, before acting on it.
        `billed` marks the attempt that created the paid task (or got the paid answer); the amount is the
        task's billed quantities. Numbers go on across runs: (step, job, n) names one attempt for good."""
        if self.attempt_log is None:
            return
        n = len(read_attempts(self.attempt_log)) + 1
        line = {"n": n, "at": _now(), "kind": kind, "http_status": status, "outcome": outcome, "billed": billed}
        if note:
            line["note"] = self._redact(note)
        self.attempt_log.parent.mkdir(parents=True, exist_ok=True)
        with self.attempt_log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    def _redact(self, text: str) -> str:
        for secret in self.provider.secrets():
            text = text.replace(secret, "***")
        return text

    def _say(self, message: str) -> None:
        if self.log:
            self.log(message)


def media_suffix(data: bytes) -> str:
    """The file extension of a provider's answer, from its first bytes (URLs and headers often do not say)."""
    if data[4:8] == b"ftyp":
        return ".mp4"
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return ".wav"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return ".mp3"
    return ".bin"


def data_uri(path: Path) -> str:
    """A local image as a `data:` URI: most providers take one wherever they take an image URL."""
    import base64
    import mimetypes

    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{kind};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def _payload(response: httpx.Response) -> Any:
    kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        try:
            return response.json()
        except ValueError:
            return response.text[:2000]
    if kind.startswith("text/"):
        return response.text[:2000]
    return response.content


def _retry_after(response: httpx.Response | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date), capped at 10 minutes."""
    if response is None:
        return None
    millis = response.headers.get("retry-after-ms")  # OpenAI-style, more precise when both are sent
    if millis:
        try:
            return min(600.0, max(0.0, float(millis) / 1000))
        except ValueError:
            pass
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(600.0, max(0.0, float(value)))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return min(600.0, max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()))
        except (TypeError, ValueError):
            return None


def _keep_answer(state: JobState, journal: Path, name: str) -> dict:
    """What a synchronous answer needs to be fetched again without asking (and paying) again."""
    kept: dict[str, Any] = {"media": state.media, "billed": state.billed, "labels": state.upstream_labels}
    if state.audio is not None:
        answer = journal / f"{name}.answer"
        with atomic_path(answer) as tmp:
            tmp.write_bytes(state.audio)
        kept["answer"] = answer.name
    return kept


def _answered(record: dict, journal: Path) -> JobState:
    audio = (journal / record["answer"]).read_bytes() if record.get("answer") else None
    return JobState("succeeded", media=list(record.get("media") or []), audio=audio,
                    billed=record.get("billed") or {}, upstream_labels=record.get("labels") or {})


def read_attempts(path: Path | None) -> list[dict[str, Any]]:
    """A job's attempt log (a torn last line from a killed run is skipped)."""
    if path is None or not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def _read_record(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _write_record(path: Path, record: dict) -> None:
    atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
