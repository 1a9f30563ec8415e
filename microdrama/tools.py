"""One tool set over the skill library, for agents: the MCP server and the producer agent call the same functions.

Each tool is a plain typed function with a strict pydantic input model, so its JSON Schema (for MCP and for
OpenAI-style function calling) is generated, never hand-written, and its arguments are checked like CLI input:
a bad argument or an InputError comes back to the caller as readable text naming the field and the fix, never a
traceback. Every call is attributed to an R&D project code and metered into the ledger (the caller's CPU time,
priced by the rate card), and the tools that spend (renders, redos, skills) are held to a budget the caller
cannot raise. Rendering needs the studio's warm `RenderWorker`, which lives in pipelines/ (the core never imports
Prefect): it is handed in, as `microdrama.studio.app.create_app` takes it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from microdrama.config import ProjectConfig
from microdrama.domain import Brief, Screenplay, Strict, parse_model, parse_yaml, read_source
from microdrama.errors import InputError, MicrodramaError, format_validation_error
from microdrama.files import atomic_write_text
from microdrama.review import MAX_TAKES, ReviewLog
from microdrama.skill import Usage

TOOLS_VERSION = "1"
MAX_WAIT_S = 60.0  # job_status blocks at most this long: a client polls again for longer renders
MAX_TEXT = 200_000  # characters of brief or screenplay text a tool takes inline
Q = Decimal("0.0001")


class ToolError(MicrodramaError):
    """A call the tool set refuses or could not finish; its message goes back to the caller as it is."""


# ---- inputs: one strict model per tool (unknown keys are errors naming the key) ------------------------------


class NoArgs(Strict):
    pass


class ListSkillsIn(Strict):
    stage: str | None = Field(None, description="only skills of this stage, e.g. dubbing, visuals")


class DescribeSkillIn(Strict):
    name: str = Field(description="a skill name from list_skills")


class RunSkillIn(Strict):
    name: str = Field(description="a skill name from list_skills")
    input: dict[str, Any] = Field(description="the stage's input fields (describe_skill shows its schema)")
    options: dict[str, Any] | None = Field(None, description="this skill's own options; default: the config's")
    work_dir: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,60}$",
                                 description="folder name under OUT/skills/ the skill writes into (default: its name)")


class ValidateIn(Strict):
    text: str = Field(max_length=MAX_TEXT, description="a brief or screenplay as YAML or JSON text")
    kind: Literal["auto", "brief", "screenplay"] = Field("auto", description="what the text is; auto: a text with "
                                                                             "series: and episode: is a screenplay")


class SourceIn(Strict):
    source: str | None = Field(None, description="path of a brief or screenplay file (YAML or JSON)")
    text: str | None = Field(None, max_length=MAX_TEXT, description="or the brief or screenplay itself, as YAML text")

    @model_validator(mode="after")
    def _one_source(self) -> "SourceIn":
        if (self.source is None) == (self.text is None):
            raise ValueError("give exactly one of `source` (a file path) or `text` (the YAML itself)")
        return self


class QuoteIn(SourceIn):
    takes: int = Field(1, ge=1, le=MAX_TAKES, description="takes planned per shot")


class RenderEpisodeIn(SourceIn):
    name: str = Field(min_length=1, max_length=120, description="run folder name under OUT, e.g. ep01")
    takes: int = Field(1, ge=1, le=MAX_TAKES, description="generations per shot: take 1 goes into the cut")


class JobStatusIn(Strict):
    job_id: str = Field(min_length=1, max_length=40, description="the id render_episode or render_shot returned")
    since: int = Field(0, ge=0, description="progress lines already seen: only later lines are returned")
    wait_s: float = Field(0, ge=0, le=MAX_WAIT_S, description="wait up to this long for the job to finish")


class RunIn(Strict):
    run: str = Field(min_length=1, max_length=80, description="the run folder name under OUT (render_episode's name)")


class RenderShotIn(RunIn):
    shot_id: str = Field(min_length=1, max_length=40, description="the shot to redo, e.g. s02")
    more: int = Field(1, ge=1, le=5, description="how many more takes to render")
    note: str = Field("", max_length=300, description="why: kept in review.json")


class DecideIn(RunIn):
    shot_id: str = Field(min_length=1, max_length=40)
    take: int = Field(ge=1, le=MAX_TAKES)
    reason: str = Field("", max_length=300, description="why (required to reject)")


class LedgerSummaryIn(Strict):
    project: str | None = Field(None, description="only this R&D project code")
    run: str | None = Field(None, description="only this run folder's latest render")


# ---- the tool set ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    Input: type[BaseModel]
    fn: Callable[["Toolbox", Any], dict[str, Any]]
    spends: bool = False  # may cost money beyond the call itself: held to the budget


@dataclass
class ToolResult:
    """What a call gives back: data, or a readable error; and what the call itself cost."""

    tool: str
    ok: bool
    data: dict[str, Any] | None = None
    error: str | None = None
    cost_rmb: Decimal = Decimal(0)
    seconds: float = 0.0

    def text(self) -> str:
        """The result as the model and an MCP client read it."""
        if self.ok:
            return json.dumps(self.data, ensure_ascii=False, default=str)
        return f"error: {self.error}"


@dataclass
class Toolbox:
    """The tools bound to an out folder, a config, a project code, a ledger and (for renders) a worker.

    `budget_rmb` caps everything spent through this toolbox: tool calls, skills, renders and what the caller
    adds with `add_spend` (the producer's tokens). A spending tool is refused when the budget is gone, and a
    render is handed only what is left, so the pipeline stops before a paid call would cross it.
    """

    out_dir: Path
    config: ProjectConfig
    worker: Any = None  # a started pipelines.studio.RenderWorker
    project_code: str | None = None  # default: the config's
    caller: str = "mcp"
    budget_rmb: Decimal | None = None
    session: str = field(default_factory=lambda: f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}")
    spent: Decimal = Decimal(0)
    calls: int = 0
    # Folders whose files a `source` may name (besides OUT): a model must not read whatever the server can.
    read_roots: list[Path] = field(default_factory=lambda: [Path.cwd()])

    def __post_init__(self) -> None:
        from microdrama.ledger import Ledger, ledger_url
        from microdrama.ledger.rates import RateCards

        self.out_dir = Path(self.out_dir).resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.read_roots = [Path(r).resolve() for r in [*self.read_roots, self.out_dir]]
        self.project_code = self.project_code or self.config.project_code
        if self.budget_rmb is not None:
            self.budget_rmb = Decimal(str(self.budget_rmb))
        self.rates = RateCards.load(self.config.ledger.rate_card)
        self.ledger = Ledger(ledger_url(self.config.ledger.url, self.out_dir)) if self.config.ledger.enabled else None
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> run name, counted: the renders this toolbox started
        self.lock = threading.Lock()

    # -- schemas ----------------------------------------------------------------------------------------------

    @staticmethod
    def schema(tool: Tool) -> dict[str, Any]:
        schema = tool.Input.model_json_schema()
        schema.pop("title", None)
        schema.setdefault("properties", {})
        schema["additionalProperties"] = False
        return schema

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tool set as OpenAI-style function schemas."""
        return openai_tools()

    # -- calling ----------------------------------------------------------------------------------------------

    def call(self, name: str, arguments: dict[str, Any] | str | None = None) -> ToolResult:
        """Validate, run and meter one call; every failure becomes a readable error, never a traceback."""
        started, cpu0 = time.perf_counter(), time.thread_time()
        result = ToolResult(tool=name, ok=False)
        try:
            tool = TOOLS.get(name)
            if tool is None:
                raise ToolError(f"no tool named '{name}'; the tools are: {', '.join(TOOLS)}")
            if isinstance(arguments, str):  # models send arguments as JSON text
                try:
                    arguments = json.loads(arguments or "{}")
                except ValueError as exc:
                    raise ToolError(f"arguments of {name} are not valid JSON ({exc}); send one JSON object") from None
            if not isinstance(arguments, dict):
                raise ToolError(f"arguments of {name}: expected a JSON object of fields, got "
                                f"{type(arguments).__name__}")
            try:
                inputs = tool.Input.model_validate(arguments)
            except ValidationError as exc:
                raise ToolError(format_validation_error(exc, tool.Input, f"the arguments of {name}")) from None
            if tool.spends:
                self.check_budget(name)
            result.data = tool.fn(self, inputs)
            result.ok = True
        except MicrodramaError as exc:
            result.error = str(exc)
        except Exception as exc:  # a failing tool is reported to the caller; the session goes on
            result.error = f"{name} failed: {type(exc).__name__}: {exc}"[:2000]
        result.seconds = round(time.perf_counter() - started, 4)
        result.cost_rmb = self._meter_call(name, result.seconds, time.thread_time() - cpu0, result.ok)
        return result

    def _who(self, task: str):
        from microdrama.ledger.meter import Attribution

        return Attribution(run_id=self.session, project_code=self.project_code, flow=f"agent-tools ({self.caller})",
                           task=task)

    def meter(self, task: str, usage: Usage, key: str) -> Decimal:
        """Record a usage in the ledger under this toolbox's project code; returns its price (counted as spent)."""
        from microdrama.ledger.store import money

        # Each priced line as the ledger stores it (6 places), so what is counted here is what the ledger sums.
        amount = sum((Decimal(money(line.amount * line.fx_rate)) for line in self.rates.price_usage(usage, date.today())),
                     Decimal(0))
        if self.ledger is not None:
            from microdrama.ledger.meter import Meter

            Meter(self.ledger, self.rates).record(self._who(task), usage, key)
        self.add_spend(amount)
        return amount

    def _meter_call(self, name: str, seconds: float, cpu: float, ok: bool) -> Decimal:
        with self.lock:
            self.calls += 1
            n = self.calls
        usage = Usage(skill=f"tool-{name}", version=TOOLS_VERSION, backend=f"microdrama tools ({self.caller})",
                      wall_seconds=seconds, cpu_seconds=max(cpu, 1e-6),
                      quantities={"tool_calls": 1.0, **({} if ok else {"tool_errors": 1.0})})
        return self.meter(name, usage, f"tool:{self.session}:{n}")

    def add_spend(self, amount: Decimal) -> None:
        with self.lock:
            self.spent += Decimal(amount)

    def refresh_spend(self) -> Decimal:
        """Count the cost of every render this toolbox started that has finished since (from the ledger)."""
        if self.worker is None:
            return self.spent
        for job_id, info in list(self.jobs.items()):
            job = self.worker.jobs.get(job_id)
            if info["counted"] or job is None or job.state not in ("done", "failed"):
                continue
            info["counted"] = True
            run_id = (job.summary or {}).get("run_id") or _run_id_of(self.out_dir / info["run"], job.queued_at)
            if run_id and self.ledger is not None:
                self.add_spend(sum((e.amount_rmb_stored for e in self.ledger.entries(run_id=run_id)), Decimal(0)))
        return self.spent

    def left(self) -> Decimal | None:
        if self.budget_rmb is None:
            return None
        return max(Decimal(0), self.budget_rmb - self.refresh_spend())

    def check_budget(self, name: str, need: Decimal = Decimal(0)) -> None:
        left = self.left()
        if left is not None and (left <= 0 or need > left):
            raise ToolError(f"budget: {name} refused — {self.spent.quantize(Q)} of the {self.budget_rmb} RMB budget "
                            f"is spent" + (f" and it needs about {need.quantize(Q)}" if need else "")
                            + "; nothing was started")

    def estimate(self, name: str, arguments: dict[str, Any] | str | None) -> Decimal:
        """About what a spending call would cost beyond the call itself (its quote), before it is made; 0 when it
        cannot be told (the call then refuses its arguments itself)."""
        try:
            arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
            tool = TOOLS[name]
            inputs = tool.Input.model_validate(arguments or {})
            if isinstance(inputs, RenderEpisodeIn):
                from microdrama.quote import quote_episode as quote

                return Decimal(quote(self.material(inputs)[0], self.config, takes=inputs.takes).total)
            if isinstance(inputs, RenderShotIn):  # the shot's dearest take so far, per take asked for
                costs = [Decimal(str(t.get("cost") or 0)) for t in self.manifest(inputs.run)["takes"]["takes"]
                         if t["shot_id"] == inputs.shot_id]
                return max(costs, default=Decimal(0)) * inputs.more
            if isinstance(inputs, RunSkillIn):
                from microdrama.quote import price
                from microdrama.registry import default_registry

                skill = default_registry().create(inputs.name)
                options = skill.parse_options({**skill.options_from_config(self.config), **(inputs.options or {})})
                quantities = skill.quote(skill.parse_input(inputs.input), options)
                return price(self.rates, skill, options, quantities)[0] if quantities else Decimal(0)
        except (MicrodramaError, ValidationError, ValueError, KeyError, TypeError):
            return Decimal(0)
        return Decimal(0)

    # -- shared helpers ---------------------------------------------------------------------------------------

    def need_worker(self):
        if self.worker is None:
            raise ToolError("rendering needs the warm render worker: start the tools with `microdrama mcp` or "
                            "`microdrama produce`")
        return self.worker

    def material(self, inputs: SourceIn) -> tuple[Brief | Screenplay, Path]:
        """The brief or screenplay a call names (a file, or inline text kept under OUT/.agents/), checked."""
        if inputs.source is not None:
            path = Path(inputs.source).expanduser().resolve()
            if not any(path == root or root in path.parents for root in self.read_roots):
                raise ToolError(f"source: {inputs.source} is outside the folders this server reads "
                                f"({', '.join(map(str, self.read_roots))}); pass the text itself instead")
            return read_source(path), path
        data = parse_yaml(inputs.text, "text")
        kind = Screenplay if isinstance(data, dict) and "series" in data and "episode" in data else Brief
        model = parse_model(kind, data, source="text")
        path = self.out_dir / ".agents" / f"{self.session}-{uuid.uuid4().hex[:6]}.yaml"
        atomic_write_text(path, inputs.text)
        return model, path

    def run_dir(self, name: str) -> Path:
        from microdrama.studio.pages import run_dir

        return run_dir(self.out_dir, name)

    def manifest(self, name: str) -> dict[str, Any]:
        from microdrama.studio.pages import read_manifest

        manifest = read_manifest(self.run_dir(name))
        if not manifest:
            raise ToolError(f"run '{name}' has no finished render (no manifest.json yet): wait for its job "
                            "(job_status) or render it (render_episode)")
        return manifest

    def submit(self, name: str, reason: str, config: ProjectConfig, source: Path, takes: int) -> dict[str, Any]:
        left = self.left()
        job = self.need_worker().submit(name, reason, config=config, source=source, out_dir=self.out_dir,
                                        takes=takes, budget_rmb=left)
        self.jobs.setdefault(job.id, {"run": name, "counted": False})
        return {"job_id": job.id, "run": name, "state": job.state,
                "budget_left_rmb": str(left.quantize(Q)) if left is not None else None,
                "next": "poll job_status with this job_id (wait_s up to 60) until state is done or failed"}


def _run_id_of(folder: Path, after: float) -> str | None:
    """The run id of a render that finished after `after` (its manifest), when the job kept no summary."""
    path = folder / "manifest.json"
    if path.is_file() and path.stat().st_mtime >= after:
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("run_id")
        except ValueError:
            return None
    return None


# ---- the tools --------------------------------------------------------------------------------------------------


def list_skills(box: Toolbox, inputs: ListSkillsIn) -> dict[str, Any]:
    from microdrama.registry import default_registry

    registry = default_registry()
    names = registry.names(inputs.stage)
    if inputs.stage and not names:
        stages = sorted({registry.get(n).stage for n in registry.names()})
        raise ToolError(f"stage: no skills for stage '{inputs.stage}'; the stages are {', '.join(stages)}")
    return {"skills": [{"name": n, "stage": registry.get(n).stage, "version": registry.get(n).version,
                        "backend": registry.get(n).backend, "from": registry.origin(n),
                        "description": registry.get(n).description} for n in names]}


def describe_skill(box: Toolbox, inputs: DescribeSkillIn) -> dict[str, Any]:
    from microdrama.registry import default_registry

    cls = default_registry().get(inputs.name)
    return {"name": cls.name, "stage": cls.stage, "version": cls.version, "backend": cls.backend,
            "description": cls.description, "input_schema": cls.Input.model_json_schema(),
            "output_schema": cls.Output.model_json_schema(), "options_schema": cls.Options.model_json_schema()}


def run_skill(box: Toolbox, inputs: RunSkillIn) -> dict[str, Any]:
    from microdrama.registry import default_registry
    from microdrama.skill import SkillContext

    skill = default_registry().create(inputs.name)
    configured = skill.options_from_config(box.config)
    options = skill.parse_options({**configured, **inputs.options} if inputs.options else configured)
    parsed = skill.parse_input(inputs.input)
    quantities = skill.quote(parsed, options)
    if quantities:  # a paid call: priced first, refused when over what is left
        from microdrama.quote import price

        box.check_budget(inputs.name, price(box.rates, skill, options, quantities)[0])
    folder = box.out_dir / "skills" / (inputs.work_dir or inputs.name)
    result = skill(parsed, SkillContext(folder), options)
    cost = box.meter(f"run_skill {skill.name}", result.usage, f"tool:{box.session}:{box.calls}:skill:{uuid.uuid4().hex}")
    return {"output": result.output.model_dump(mode="json"), "usage": result.usage.model_dump(mode="json"),
            "work_dir": str(folder), "cost_rmb": str(cost.quantize(Q))}


def validate(box: Toolbox, inputs: ValidateIn) -> dict[str, Any]:
    kind = inputs.kind
    try:
        data = parse_yaml(inputs.text, "text")
        if kind == "auto":
            kind = "screenplay" if isinstance(data, dict) and "series" in data and "episode" in data else "brief"
        model = parse_model(Screenplay if kind == "screenplay" else Brief, data, source=f"the {kind}")
        if isinstance(model, Screenplay):
            from microdrama.run import check_subtitles_fit

            check_subtitles_fit(model, box.config)
    except InputError as exc:
        return {"valid": False, "kind": kind, "errors": str(exc)}
    return {"valid": True, "kind": kind, "errors": ""}


def quote_episode(box: Toolbox, inputs: QuoteIn) -> dict[str, Any]:
    from microdrama.quote import quote_episode as quote
    from microdrama.run import check_stages

    material, _ = box.material(inputs)
    check_stages(box.config, keys=False)
    q = quote(material, box.config, takes=inputs.takes)
    left = box.left()
    return {"currency": q.currency, "total": q.total, "by_stage": q.by_stage, "takes": q.takes,
            "paid_calls": len(q.lines), "note": q.note,
            "budget_left": str(left.quantize(Q)) if left is not None else None,
            "fits_budget": None if left is None else Decimal(q.total) <= left}


def render_episode(box: Toolbox, inputs: RenderEpisodeIn) -> dict[str, Any]:
    from microdrama.quote import quote_episode as quote
    from microdrama.run import check_run_name, check_stages

    check_run_name(inputs.name)
    material, path = box.material(inputs)
    check_stages(box.config)
    box.need_worker()
    total = Decimal(quote(material, box.config, takes=inputs.takes).total)
    box.check_budget("render_episode", total)
    if box.worker.busy(inputs.name):
        raise ToolError(f"run '{inputs.name}' is already rendering: poll its job with job_status")
    return box.submit(inputs.name, "render_episode", box.config, path, inputs.takes)


def job_status(box: Toolbox, inputs: JobStatusIn) -> dict[str, Any]:
    worker = box.need_worker()
    job = worker.jobs.get(inputs.job_id)
    if job is None:
        raise ToolError(f"job_id: no render job '{inputs.job_id}' in this session; render_episode or render_shot "
                        "return the ids")
    deadline = time.monotonic() + inputs.wait_s
    while job.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    box.refresh_spend()
    lines = job.lines[inputs.since:]
    return {"job_id": job.id, "run": job.run_name, "state": job.state, "lines": lines,
            "since": inputs.since + len(lines), "error": job.error, "seconds": job.seconds,
            "summary": job.summary, "spent_rmb": str(box.spent.quantize(Q))}


def render_shot(box: Toolbox, inputs: RenderShotIn) -> dict[str, Any]:
    from microdrama.edits import load_screenplay
    from microdrama.studio.pages import episode_config

    folder = box.run_dir(inputs.run)
    manifest = box.manifest(inputs.run)
    ids = [shot.id for _, shot in load_screenplay(folder).shots()]
    if inputs.shot_id not in ids:
        raise ToolError(f"shot_id: run '{inputs.run}' has no shot '{inputs.shot_id}'; its shots are {', '.join(ids)}")
    box.need_worker()
    if box.worker.busy(inputs.run):
        raise ToolError(f"run '{inputs.run}' is already rendering: poll its job with job_status first")
    per_shot = manifest.get("takes", {}).get("per_shot", 1)
    have = ReviewLog.load(folder).takes_for(inputs.shot_id, per_shot)
    if have + inputs.more > MAX_TAKES:
        raise ToolError(f"more: shot {inputs.shot_id} has {have} takes; at most {MAX_TAKES} in all")
    config = episode_config(folder, box.config)
    ReviewLog.ask_redo(folder, shot_id=inputs.shot_id, takes=have + inputs.more, note=inputs.note,
                       by=f"agent:{box.caller}")
    return {**box.submit(inputs.run, f"shot {inputs.shot_id}: {inputs.more} more take(s)", config,
                         folder / "screenplay.yaml", per_shot), "shot_id": inputs.shot_id, "takes": have + inputs.more}


def list_takes(box: Toolbox, inputs: RunIn) -> dict[str, Any]:
    """Every take with its status and cost, and the automatic checks per shot and for the episode."""
    from microdrama.edits import load_screenplay
    from microdrama.studio.pages import episode_config

    folder = box.run_dir(inputs.run)
    manifest = box.manifest(inputs.run)
    screenplay = load_screenplay(folder)
    qa = {q["line_id"]: q for q in (manifest.get("dub_qa") or {}).get("lines", [])}
    consistency = manifest.get("character_consistency") or {}
    fit = _subtitle_problems(screenplay, episode_config(folder, box.config))
    takes_by_shot: dict[str, list[dict[str, Any]]] = {}
    for t in (manifest.get("takes") or {}).get("takes", []):
        takes_by_shot.setdefault(t["shot_id"], []).append(
            {k: t.get(k) for k in ("take", "status", "in_cut", "cost", "cached", "key", "source", "reason")})
    shots = []
    for _, shot in screenplay.shots():
        line_ids = [shot.line_id(i) for i in range(len(shot.lines))]
        scores = [qa[i]["score"] for i in line_ids if i in qa]
        similarity = [consistency[c]["mean_similarity"] for c in shot.characters
                      if (consistency.get(c) or {}).get("mean_similarity") is not None]
        shots.append({"shot_id": shot.id, "takes": takes_by_shot.get(shot.id, []),
                      "dub_qa_worst": max(scores) if scores else None,
                      "dub_qa_flagged": [i for i in line_ids if qa.get(i, {}).get("flagged")],
                      "subtitle_problems": [p for i in line_ids for p in fit.get(i, [])],
                      "consistency": min(similarity) if similarity else None})
    target = (manifest.get("writing") or {}).get("target_s")
    duration = (manifest.get("episode") or {}).get("duration_s")
    labels = manifest.get("labels") or []
    return {"run": inputs.run, "run_id": manifest.get("run_id"), "shots": shots,
            "episode": {"duration_s": duration, "target_s": target,
                        "duration_off_by": round(abs(duration - target) / target, 3) if target and duration else None,
                        "labels_ok": all(r.get("ok") for r in labels) if labels else None,
                        "dub_qa_skipped": (manifest.get("dub_qa") or {}).get("skipped"),
                        "usable_take_rate": (manifest.get("takes") or {}).get("usable_take_rate"),
                        "cost": manifest.get("cost")},
            "how_to_read": "dub_qa_worst is the worst line's error rate (lower is better); consistency is the lowest "
                           "mean face similarity of the characters on screen (higher is better); redo a shot with "
                           "render_shot, then decide with approve_take or reject_take"}


def _subtitle_problems(screenplay: Screenplay, config: ProjectConfig) -> dict[str, list[str]]:
    """Per line id, why its subtitle does not fit (the check a render would refuse), one line at a time."""
    from microdrama.run import check_subtitles_fit

    try:
        check_subtitles_fit(screenplay, config)
        return {}
    except InputError as exc:
        found: dict[str, list[str]] = {}
        for ln in screenplay.spoken_lines():
            if ln.id in str(exc):
                found.setdefault(ln.id, []).append(str(exc).splitlines()[0][:300])
        return found


def _decide(box: Toolbox, inputs: DecideIn, verdict: Literal["approved", "rejected"]) -> dict[str, Any]:
    folder = box.run_dir(inputs.run)
    manifest = box.manifest(inputs.run)
    for t in (manifest.get("takes") or {}).get("takes", []):
        if t["shot_id"] == inputs.shot_id and t["take"] == inputs.take:
            if t.get("status") == "failed":
                raise ToolError(f"take: take {inputs.take} of shot {inputs.shot_id} failed; there is nothing to "
                                "decide on")
            d = ReviewLog.record(folder, shot_id=inputs.shot_id, take=inputs.take, key=t.get("key"), verdict=verdict,
                                 reason=inputs.reason, by=f"agent:{box.caller}")
            return {"decision": d.model_dump(), "note": "the cut uses the newest approved take once the episode is "
                                                        "rendered again (render_shot or render_episode)"}
    raise ToolError(f"take: shot {inputs.shot_id} has no take {inputs.take} in the last render of '{inputs.run}' "
                    "(list_takes shows them)")


def approve_take(box: Toolbox, inputs: DecideIn) -> dict[str, Any]:
    return _decide(box, inputs, "approved")


def reject_take(box: Toolbox, inputs: DecideIn) -> dict[str, Any]:
    return _decide(box, inputs, "rejected")


def ledger_summary(box: Toolbox, inputs: LedgerSummaryIn) -> dict[str, Any]:
    if box.ledger is None:
        raise ToolError("the ledger is off in this config (ledger.enabled: false)")
    run_id = box.manifest(inputs.run).get("run_id") if inputs.run else None
    entries = box.ledger.entries(project=inputs.project, run_id=run_id)
    by_category: dict[str, Decimal] = {}
    by_project: dict[str, Decimal] = {}
    for e in entries:
        by_category[e.category] = by_category.get(e.category, Decimal(0)) + e.amount_rmb_stored
        by_project[e.project_code] = by_project.get(e.project_code, Decimal(0)) + e.amount_rmb_stored
    mine = [e for e in entries if e.run_id == box.session]
    return {"currency": "RMB", "entries": len(entries),
            "total": str(sum(by_category.values(), Decimal(0)).quantize(Q)),
            "by_category": {k: str(v.quantize(Q)) for k, v in sorted(by_category.items())},
            "by_project": {k: str(v.quantize(Q)) for k, v in sorted(by_project.items())},
            "this_session": {"project": box.project_code, "entries": len(mine),
                             "spent": str(box.refresh_spend().quantize(Q)),
                             "budget": str(box.budget_rmb) if box.budget_rmb is not None else None}}


def label_report(box: Toolbox, inputs: RunIn) -> dict[str, Any]:
    manifest = box.manifest(inputs.run)
    files = [{"file": Path(r["path"]).name, "ok": r["ok"],
              "failed": [c["clause"] for c in r.get("clauses", []) if not c["ok"]],
              "warnings": r.get("warnings", [])} for r in manifest.get("labels", [])]
    return {"run": inputs.run, "files": files, "all_ok": bool(files) and all(f["ok"] for f in files),
            "note": "" if files else "labels are off in this run's config: nothing was labelled or checked"}


TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("list_skills", "List the skills in the library (name, stage, version, backend), optionally of one stage.",
         ListSkillsIn, list_skills),
    Tool("describe_skill", "One skill's input, output and options as JSON Schemas (its stage contract).",
         DescribeSkillIn, describe_skill),
    Tool("run_skill", "Run one skill on the given stage input, into a work folder under OUT/skills; returns its "
         "output and usage (metered).", RunSkillIn, run_skill, spends=True),
    Tool("validate", "Check a brief or screenplay (YAML text): every problem, field by field, with the fix.",
         ValidateIn, validate),
    Tool("quote_episode", "Price an episode's model-API calls before anything is paid for (RMB), against the budget.",
         QuoteIn, quote_episode),
    Tool("render_episode", "Start rendering an episode from a brief or screenplay (async): returns a job_id to poll "
         "with job_status.", RenderEpisodeIn, render_episode, spends=True),
    Tool("job_status", "A render job's state (queued, running, done, failed), its new progress lines and errors; "
         "waits up to wait_s seconds for it to finish.", JobStatusIn, job_status),
    Tool("render_shot", "Redo one shot: ask for more takes of it (review record) and re-render the episode (async, "
         "returns a job_id); unchanged shots are reused.", RenderShotIn, render_shot, spends=True),
    Tool("list_takes", "Every take of every shot with status, cost and in_cut, and the automatic checks: dub QA "
         "scores, subtitle fit, face consistency, labels, duration against the target.", RunIn, list_takes),
    Tool("approve_take", "Approve one take of a shot (review record): it goes into the cut on the next render.",
         DecideIn, approve_take),
    Tool("reject_take", "Reject one take of a shot, with a reason (review record).", DecideIn, reject_take),
    Tool("ledger_summary", "R&D cost ledger totals by category and project, and this session's spend and budget.",
         LedgerSummaryIn, ledger_summary),
    Tool("label_report", "The AIGC label checks (GB 45438-2025) of every file a run published.", RunIn, label_report),
]}


def openai_tools(names: list[str] | None = None) -> list[dict[str, Any]]:
    """The tool set as OpenAI-style function schemas: [{"type": "function", "function": {...}}]."""
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": Toolbox.schema(t)}}
            for t in TOOLS.values() if names is None or t.name in names]
