"""The studio's HTTP face: server-rendered pages, form actions, live progress, media from the out folder.

Every action is a form POST that also answers JSON (`Accept: application/json`), so the API tests and a
script drive exactly what the browser drives. Safe by default:

- binds to 127.0.0.1; any other host needs a token (`--token` or MICRODRAMA_STUDIO_TOKEN), given once as
  `?token=` (kept in a cookie) or as `Authorization: Bearer`;
- every POST carries the page's CSRF token, and a request from another origin is refused;
- every path the browser names is resolved inside the out folder;
- a bad edit is refused in the page with the message the CLI gives, and nothing is written;
- no key or secret is ever read into a page (keys live in the environment; pages show the manifest's
  records, which never hold one).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from microdrama.config import ProjectConfig
from microdrama.edits import apply_edit, edit_line, edit_shot, edit_voice
from microdrama.errors import InputError, MicrodramaError
from microdrama.files import atomic_path
from microdrama.review import ReviewLog
from microdrama.studio import pages

HERE = Path(__file__).parent
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(out_dir: Path, worker, *, token: str | None = None, config: ProjectConfig | None = None,
               budget_rmb: float | None = None) -> FastAPI:
    """The studio over `out_dir`, rendering through `worker` (a started `pipelines.studio.RenderWorker`: the core
    never imports Prefect). `config` renders episodes that have no manifest yet; `budget_rmb` caps each episode's
    model-API spend (what is left shows on the page)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="microdrama studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.out = out_dir
    app.state.token = token
    app.state.csrf = secrets.token_urlsafe(24)
    app.state.worker = worker
    app.state.budget = Decimal(str(budget_rmb)) if budget_rmb is not None else None
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    templates.filters["money"] = lambda v: "—" if v in (None, "") else f"{Decimal(str(v)):.4f}"
    templates.filters["q"] = lambda v: quote(str(v))

    def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(template).render(csrf=app.state.csrf, **context)
        return HTMLResponse(html, status_code=status)

    # -- guards ----------------------------------------------------------------------------------------

    @app.middleware("http")
    async def guard(request: Request, call_next):
        try:
            if app.state.token:
                given = (request.query_params.get("token") or request.cookies.get("md_token")
                         or request.headers.get("authorization", "").removeprefix("Bearer ").strip())
                if not hmac.compare_digest(given or "", app.state.token):
                    raise Refused(401, "the studio needs its token: open the address it printed (…?token=…)")
            if request.method == "POST":
                origin = request.headers.get("origin")
                if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
                    raise Refused(403, f"request from another site ({origin}) refused")
        except Refused as exc:
            return PlainError(exc.status, str(exc))
        response = await call_next(request)
        if app.state.token and request.query_params.get("token"):
            response.set_cookie("md_token", app.state.token, httponly=True, samesite="strict")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    async def form_of(request: Request) -> dict[str, str]:
        """The form (or JSON body) of a POST, after its CSRF token is checked."""
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            data = {k: "" if v is None else str(v) for k, v in (json.loads(body or b"{}") or {}).items()}
        else:
            data = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        given = data.pop("csrf", None) or request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(given, app.state.csrf):
            raise Refused(403, "the form's CSRF token is missing or stale: reload the page and try again")
        return data

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    # -- pages ----------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        if wants_json(request):
            return JSONResponse(pages.index(out_dir))
        return page("index.html", out=str(out_dir), **pages.index(out_dir))

    @app.get("/e/{name}")
    def episode_page(request: Request, name: str, job: str | None = None):
        busy = app.state.worker.busy(name)
        current = app.state.worker.jobs.get(job) if job else None
        try:
            view = pages.episode(out_dir, name, app.state.budget)
        except InputError as exc:
            if current or busy:  # a first render: nothing to show yet but its progress
                return page("rendering.html", name=name, job=current or busy)
            return PlainError(404, str(exc))
        if wants_json(request):
            return JSONResponse({**view, "job": (current or busy).as_dict() if (current or busy) else None})
        return page("episode.html", e=view, job=current or busy, error=None)

    # -- actions --------------------------------------------------------------------------------------

    def action(name: str, request: Request, data: dict[str, str], do: Callable[[Path, ProjectConfig], str]):
        """Run one edit or decision, then queue the re-render of what it touched."""
        try:
            folder = pages.run_dir(out_dir, name)
            config = pages.episode_config(folder, config_fallback)
            reason = do(folder, config)
            manifest = pages.read_manifest(folder) or {}
            job = app.state.worker.submit(
                name, reason, config=config, source=folder / "screenplay.yaml", out_dir=out_dir,
                takes=manifest.get("takes", {}).get("per_shot", 1), budget_rmb=budget_left(manifest))
        except MicrodramaError as exc:
            if wants_json(request):
                return JSONResponse({"error": str(exc)}, status_code=400)
            try:
                view = pages.episode(out_dir, name, app.state.budget)
            except InputError:
                return PlainError(400, str(exc))
            return page("episode.html", 400, e=view, job=app.state.worker.busy(name), error=str(exc))
        if wants_json(request):
            return JSONResponse({"job": job.as_dict()}, status_code=202)
        return RedirectResponse(f"/e/{quote(name)}?job={job.id}", status_code=303)

    config_fallback = config

    def budget_left(manifest: dict[str, Any]) -> Decimal | None:
        if app.state.budget is None:
            return None
        spent = Decimal(str(((manifest.get("cost") or {}).get("by_category") or {}).get("model_api", "0")))
        return max(Decimal(0), app.state.budget - spent)

    def take_key(folder: Path, shot_id: str, take: int) -> str | None:
        manifest = pages.read_manifest(folder) or {}
        for t in manifest.get("takes", {}).get("takes", []):
            if t["shot_id"] == shot_id and t["take"] == take:
                if t.get("status") == "failed":
                    raise InputError(f"take: take {take} of shot {shot_id} failed; there is nothing to decide on")
                return t.get("key")
        raise InputError(f"take: shot {shot_id} has no take {take} in the last render")

    def number(data: dict[str, str], field: str, kind=float) -> Any:
        value = data.get(field, "").strip()
        if not value:
            return None
        try:
            return kind(value)
        except ValueError:
            raise InputError(f"{field}: '{value}' is not a number") from None

    @app.post("/e/{name}/line/{line_id}")
    async def line_edit(request: Request, name: str, line_id: str):
        data = await form_of(request)

        def do(folder: Path, config: ProjectConfig) -> str:
            apply_edit(folder, config, edit_line, line_id, text=data.get("text"), emotion=data.get("emotion") or None,
                       speaker=data.get("speaker") or None)
            return f"line {line_id} edited"
        return action(name, request, data, do)

    @app.post("/e/{name}/shot/{shot_id}")
    async def shot_edit(request: Request, name: str, shot_id: str):
        data = await form_of(request)

        def do(folder: Path, config: ProjectConfig) -> str:
            apply_edit(folder, config, edit_shot, shot_id, prompt=data.get("prompt") or None,
                       min_duration_s=number(data, "min_duration_s"))
            return f"shot {shot_id} edited"
        return action(name, request, data, do)

    @app.post("/e/{name}/voice/{character_id}")
    async def voice_edit(request: Request, name: str, character_id: str):
        data = await form_of(request)

        def do(folder: Path, config: ProjectConfig) -> str:
            fields = {k: data[k] for k in ("gender", "engine", "voice_id") if data.get(k)}
            fields.update({k: number(data, k, int) for k in ("variant", "pitch", "rate") if data.get(k, "").strip()})
            apply_edit(folder, config, edit_voice, character_id, **fields)
            return f"voice of {character_id} edited"
        return action(name, request, data, do)

    @app.post("/e/{name}/shot/{shot_id}/redo")
    async def redo(request: Request, name: str, shot_id: str):
        data = await form_of(request)

        def do(folder: Path, config: ProjectConfig) -> str:
            more = number(data, "more", int) or 1
            manifest = pages.read_manifest(folder) or {}
            have = ReviewLog.load(folder).takes_for(shot_id, manifest.get("takes", {}).get("per_shot", 1))
            if data.get("prompt", "").strip():
                apply_edit(folder, config, edit_shot, shot_id, prompt=data["prompt"])
            else:
                apply_edit(folder, config, edit_shot, shot_id)  # checks the shot exists
            ReviewLog.ask_redo(folder, shot_id=shot_id, takes=have + more, note=data.get("note", ""),
                               by=data.get("reviewer"))
            return f"shot {shot_id}: {more} more take(s)" + (" with an edited prompt" if data.get("prompt") else "")
        return action(name, request, data, do)

    @app.post("/e/{name}/take/{shot_id}/{take}/{verdict}")
    async def decide(request: Request, name: str, shot_id: str, take: int, verdict: str):
        data = await form_of(request)
        if verdict not in ("approve", "reject"):
            return PlainError(404, f"unknown decision '{verdict}': approve or reject")

        def do(folder: Path, config: ProjectConfig) -> str:
            ReviewLog.record(folder, shot_id=shot_id, take=take, key=take_key(folder, shot_id, take),
                             verdict="approved" if verdict == "approve" else "rejected",
                             reason=data.get("reason", ""), by=data.get("reviewer"))
            return f"take {take} of {shot_id} {verdict}d"
        return action(name, request, data, do)

    @app.post("/e/{name}/approve-all")
    async def approve_all(request: Request, name: str):
        data = await form_of(request)

        def do(folder: Path, config: ProjectConfig) -> str:
            manifest = pages.read_manifest(folder)
            if not manifest:
                raise InputError("approve all: the episode has no finished render to approve")
            in_cut = [t for t in manifest.get("takes", {}).get("takes", []) if t.get("in_cut")]
            for t in in_cut:
                if t.get("status") != "approved":
                    ReviewLog.record(folder, shot_id=t["shot_id"], take=t["take"], key=t.get("key"),
                                     verdict="approved", by=data.get("reviewer"))
            return f"approved the {len(in_cut)} takes in the cut"
        return action(name, request, data, do)

    @app.post("/e/{name}/render")
    async def rerender(request: Request, name: str):
        data = await form_of(request)
        return action(name, request, data, lambda folder, config: "re-render")

    @app.post("/render-demo")
    async def render_demo(request: Request):
        """The bundled demo episode into OUT/demo, so a first visit has something to review."""
        from microdrama.assets import ASSETS_DIR
        from microdrama.run import check_stages, configure

        await form_of(request)
        try:
            config = config_fallback or configure(ProjectConfig.load(None))[0]
            check_stages(config)
        except MicrodramaError as exc:
            return PlainError(400, str(exc))
        job = app.state.worker.submit("demo", "the demo episode", config=config,
                                      source=ASSETS_DIR / "demo" / "brief.yaml", out_dir=out_dir)
        return RedirectResponse(f"/e/demo?job={job.id}", status_code=303)

    @app.get("/api/session")
    def session():
        """The CSRF token for a script (`microdrama episode --via-studio`); another site's page cannot read it."""
        return JSONResponse({"csrf": app.state.csrf, "out": str(out_dir)})

    @app.post("/api/render")
    async def render_source(request: Request):
        """Render a brief or screenplay from this machine into the studio's out folder, on the warm worker."""
        data = await form_of(request)
        try:
            from microdrama.domain import read_source
            from microdrama.run import check_run_name, check_stages, configure

            source = Path(data.get("source", "")).expanduser().resolve()
            read_source(source)
            name = check_run_name(data.get("name") or source.stem)
            folder = out_dir / name
            config = (pages.episode_config(folder, config_fallback) if (folder / "screenplay.yaml").is_file()
                      else config_fallback or configure(ProjectConfig.load(None))[0])
            check_stages(config)
            takes = number(data, "takes", int) or 1
            job = app.state.worker.submit(name, f"render {source.name}", config=config, source=source,
                                          out_dir=out_dir, takes=takes, budget_rmb=budget_left({}))
        except MicrodramaError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"job": job.as_dict()}, status_code=202)

    # -- progress ---------------------------------------------------------------------------------------

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        job = app.state.worker.jobs.get(job_id)
        return JSONResponse(job.as_dict()) if job else JSONResponse({"error": "no such job"}, status_code=404)

    @app.get("/e/{name}/events")
    async def events(name: str, job: str):
        found = app.state.worker.jobs.get(job)
        if found is None or found.run_name != name:
            return PlainError(404, "no such render")

        async def stream():
            sent = 0
            while True:
                lines = found.lines[sent:]
                for line in lines:
                    yield f"data: {json.dumps({'line': line}, ensure_ascii=False)}\n\n"
                sent += len(lines)
                if found.state in ("done", "failed"):
                    yield f"event: end\ndata: {json.dumps(found.as_dict(), ensure_ascii=False)}\n\n"
                    return
                await asyncio.sleep(0.25)
        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    # -- files ------------------------------------------------------------------------------------------

    @app.get("/font/cjk.otf")
    def cjk_font():
        """The bundled Noto Sans SC (OFL), so Chinese shows on a machine without a CJK font; cached a day."""
        from microdrama.media import cjk_font_path

        return FileResponse(cjk_font_path(), media_type="font/otf", headers={"Cache-Control": "max-age=86400"})

    def served(path: str, respond: Callable[[Path], Response]) -> Response:
        """A file the browser names, only from inside OUT."""
        try:
            target = pages.inside(out_dir, path)
        except InputError as exc:
            return PlainError(403, str(exc))
        return respond(target) if target.is_file() else PlainError(404, f"{path}: no such file")

    @app.get("/media/{path:path}")
    def media(path: str):
        return served(path, FileResponse)

    @app.get("/poster/{path:path}")
    def poster(path: str):
        return served(path, lambda target: FileResponse(poster_of(out_dir, target), media_type="image/jpeg"))

    app.add_exception_handler(Refused, lambda request, exc: PlainError(exc.status, str(exc)))
    return app


def PlainError(status: int, message: str) -> Response:  # noqa: N802  (reads like the response class it returns)
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def poster_of(out_dir: Path, video: Path) -> Path:
    """A small JPEG of a clip's first frame, made once per clip content and kept under OUT/.studio/posters."""
    import av

    stat = video.stat()
    digest = hashlib.sha1(f"{video}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    target = out_dir / ".studio" / "posters" / f"{digest}.jpg"
    if not target.is_file():
        with av.open(str(video)) as container:
            image = next(container.decode(video=0)).to_image()
        image.thumbnail((216, 384))
        with atomic_path(target) as tmp:
            image.convert("RGB").save(tmp, "JPEG", quality=80)
    return target
