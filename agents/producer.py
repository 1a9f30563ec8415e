"""The producer agent: makes one episode from a brief within a budget, using only the agent tool set.

A tool-calling loop over any OpenAI-compatible model: the model decides what to do next (validate, quote, render,
review every take with the automatic checks, redo the worst shots, finish) and the agent carries out its tool
calls through `microdrama.tools.Toolbox`. The limits are the agent's, not the model's: a budget (tokens, tool
calls, renders and redos all count; a render is handed only what is left), a number of tool calls and a wall
time; with `approve_above_rmb` it pauses — stops with a message saying what it wanted to spend — before the
spend would pass that line. Every step (tool, arguments, the model's reason, result, cost so far) goes to the
decision log, `OUT/<run>/producer.json`, beside the manifest, rewritten after each step so a stopped run keeps it.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

from microdrama.agents.base import Agent, AgentDeps
from microdrama.errors import InputError
from microdrama.files import atomic_write_text, sha256_file
from microdrama.llm.client import LLMError
from microdrama.run import Manifest
from microdrama.skill import Usage
from microdrama.tools import TOOLS, Toolbox, openai_tools

LOG_FILE = "producer.json"
Q = Decimal("0.0001")

SYSTEM = """You are the producer of an AI micro-drama episode. You act only through the tools.
Work in this order:
1. validate the brief (pass its text); if it is invalid, stop and say why.
2. quote_episode for the planned takes; if fits_budget is false, stop and say so.
3. render_episode, then job_status with wait_s 60 until the state is done or failed.
4. list_takes: review every take with the automatic checks (dub_qa_worst: lower is better; subtitle_problems;
   consistency: higher is better; labels_ok; duration_off_by against the target).
5. While budget remains, redo the worst shots with render_shot (one at a time, poll job_status), then list_takes
   again. Do not redo a shot whose checks are already fine.
6. approve_take the good take in the cut of every shot; reject_take (with a reason) takes that fail a check.
7. label_report, then finish: reply without a tool call, with a two-line summary.
Before each tool call, say in one sentence why you make it. The budget, the number of tool calls and the time
are enforced for you: a refused call says why; do not try to get around it."""


class ProduceTask(BaseModel):
    source: Path = Field(description="the brief (or screenplay) file")
    name: str = Field(description="the run folder name under OUT")
    budget_rmb: Decimal = Field(ge=0, description="hard cap on everything this production spends")
    takes: int = Field(1, ge=1, le=20)
    max_calls: int = Field(40, ge=1, le=1000, description="hard cap on tool calls")
    max_minutes: float = Field(30, gt=0, le=24 * 60, description="hard cap on wall time")
    approve_above_rmb: Decimal | None = Field(None, ge=0, description="pause before the spend passes this")


class Step(BaseModel):
    step: int
    at: str
    kind: Literal["tool", "model", "stop"]
    tool: str | None = None
    arguments: Any = None
    why: str = ""
    ok: bool = True
    result: str = ""
    cost_rmb: str = "0"
    spent_rmb: str = "0"


class ProduceResult(BaseModel):
    status: Literal["finished", "stopped", "paused", "failed"]
    reason: str
    run: str
    log: str
    budget_rmb: str
    spent_rmb: str
    tool_calls: int
    model_calls: int
    project_code: str
    steps: list[Step] = Field(default_factory=list)


class ProducerAgent(Agent[ProduceTask, ProduceResult]):
    name = "producer"
    version = "1"
    project_code = "RD-AGENT-PRODUCER"
    description = "Makes an episode from a brief within a budget: validates, quotes, renders, reviews, redoes."

    def __init__(self, toolbox: Toolbox, clock: Callable[[], float] = time.monotonic) -> None:
        self.box = toolbox
        self.clock = clock

    def run(self, deps: AgentDeps, task: ProduceTask) -> ProduceResult:
        box, client = self.box, deps.client
        box.read_roots.append(Path(task.source).resolve().parent)  # the brief the person named may be read
        if box.budget_rmb is None or box.budget_rmb > task.budget_rmb:
            box.budget_rmb = task.budget_rmb  # the toolbox refuses spending tools past the same cap
        try:
            brief_text = task.source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{task.source}: cannot read the brief ({exc})") from None
        log_path = box.out_dir / task.name / LOG_FILE
        steps: list[Step] = []
        state = {"tool_calls": 0, "model_calls": 0, "last_model_cost": Decimal(0)}

        def spent() -> Decimal:
            return box.refresh_spend()

        def record(**fields) -> Step:
            step = Step(step=len(steps) + 1, at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        spent_rmb=str(spent().quantize(Q)), **fields)
            steps.append(step)
            write(None, "")
            return step

        def write(status: str | None, reason: str) -> ProduceResult:
            result = ProduceResult(status=status or "running", reason=reason, run=task.name, log=str(log_path),
                                   budget_rmb=str(task.budget_rmb), spent_rmb=str(box.spent.quantize(Q)),
                                   tool_calls=state["tool_calls"], model_calls=state["model_calls"],
                                   project_code=box.project_code, steps=steps) if status else None
            payload = {"agent": self.name, "version": self.version, "project_code": box.project_code,
                       "session": box.session, "brief": str(task.source), "run": task.name,
                       "limits": {"budget_rmb": str(task.budget_rmb), "max_calls": task.max_calls,
                                  "max_minutes": task.max_minutes,
                                  "approve_above_rmb": str(task.approve_above_rmb)
                                  if task.approve_above_rmb is not None else None},
                       "status": status or "running", "reason": reason,
                       "spent_rmb": str(box.spent.quantize(Q)), "tool_calls": state["tool_calls"],
                       "model_calls": state["model_calls"], "steps": [s.model_dump(mode="json") for s in steps]}
            atomic_write_text(log_path, json.dumps(payload, ensure_ascii=False, indent=1))
            return result

        def stop(status: str, reason: str) -> ProduceResult:
            record(kind="stop", why=reason, ok=status == "finished")
            result = write(status, reason)
            Manifest.annotate(log_path.parent, producer={  # the decision log is part of the episode's record
                "agent": f"{self.name} v{self.version}", "status": status, "reason": reason,
                "budget_rmb": str(task.budget_rmb), "spent_rmb": result.spent_rmb, "tool_calls": result.tool_calls,
                "model_calls": result.model_calls, "project_code": box.project_code, "log": LOG_FILE,
                "log_sha256": sha256_file(log_path), "steps": [s.model_dump(mode="json") for s in steps]})
            return result

        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Brief file: {task.source}\nRun name: {task.name}\nTakes per shot: "
                                        f"{task.takes}\nBudget: {task.budget_rmb} RMB\nBrief text:\n{brief_text}"}]
        tools = openai_tools()
        started = self.clock()
        while True:
            # -- hard limits, checked before every model call ---------------------------------------------------
            if (self.clock() - started) / 60 > task.max_minutes:
                return stop("stopped", f"max wall time: {task.max_minutes:g} min reached; the run folder keeps "
                                       "what was made")
            if state["tool_calls"] >= task.max_calls:
                return stop("stopped", f"max tool calls: {task.max_calls} made")
            guess = state["last_model_cost"]
            if spent() + guess > task.budget_rmb:
                return stop("stopped", f"budget: the next model call would cost about {guess.quantize(Q)} RMB with "
                                       f"{box.spent.quantize(Q)} of the {task.budget_rmb} RMB budget spent; "
                                       "stopping before it")
            if task.approve_above_rmb is not None and spent() + guess > task.approve_above_rmb:
                return stop("paused", self._approval(task, guess, "the next model call"))
            # -- one model turn ---------------------------------------------------------------------------------
            before = client.usage.quantities()
            try:
                message = client.chat(messages, tools=tools, purpose=f"producer-{state['model_calls'] + 1}")
            except LLMError as exc:
                self._meter_tokens(client, before, state)
                return stop("failed", f"the model server failed: {exc}")
            cost = self._meter_tokens(client, before, state)
            why = _text(message)
            calls = message.get("tool_calls") or []
            record(kind="model", why=why[:2000], result=f"{len(calls)} tool call(s)", cost_rmb=str(cost.quantize(Q)))
            messages.append({"role": "assistant", "content": message.get("content"),
                             **({"tool_calls": calls} if calls else {})})
            if not calls:
                return stop("finished", why.strip()[:2000] or "the model finished without a summary")
            for n, call in enumerate(calls):
                fn = call.get("function") or {}
                name, arguments = fn.get("name", ""), fn.get("arguments")
                shown = _arguments(arguments)
                refusal = self._refusal(task, name, arguments, state)
                if refusal is not None:  # answered to every call of the turn, so the conversation stays valid
                    status, reason = refusal
                    for rest in calls[n:]:
                        messages.append({"role": "tool", "tool_call_id": rest.get("id", ""),
                                         "content": f"error: refused: {reason}"})
                    record(kind="tool", tool=name, arguments=shown, why=why[:500], ok=False,
                           result=f"not called: {reason}")
                    return stop(status, reason)
                result = box.call(name, arguments)
                state["tool_calls"] += 1
                record(kind="tool", tool=name, arguments=shown, why=why[:500], ok=result.ok,
                       result=result.text()[:1500], cost_rmb=str(result.cost_rmb.quantize(Q)))
                messages.append({"role": "tool", "tool_call_id": call.get("id", ""),
                                 "content": result.text()[:12000]})

    # -- helpers -------------------------------------------------------------------------------------------------

    def _refusal(self, task: ProduceTask, name: str, arguments: Any, state: dict) -> tuple[str, str] | None:
        """Why a tool call must not be made (a hard limit), or None."""
        if state["tool_calls"] >= task.max_calls:
            return "stopped", f"max tool calls: {task.max_calls} made"
        tool = TOOLS.get(name)
        if tool is None or not tool.spends:
            return None
        need = self.box.estimate(name, arguments)
        spent = self.box.refresh_spend()
        if spent + need > task.budget_rmb or (self.box.left() is not None and self.box.left() <= 0):
            return "stopped", (f"budget: {name} would cost about {need.quantize(Q)} RMB with {spent.quantize(Q)} of "
                               f"the {task.budget_rmb} RMB budget spent; stopping before it")
        if task.approve_above_rmb is not None and spent + need > task.approve_above_rmb:
            return "paused", self._approval(task, need, name)
        return None

    def _approval(self, task: ProduceTask, need: Decimal, what: str) -> str:
        spent = self.box.spent
        return (f"approval needed: {what} would take the spend from {spent.quantize(Q)} to about "
                f"{(spent + need).quantize(Q)} RMB, above --approve-above {task.approve_above_rmb}. Nothing more was "
                f"spent; to go on, run again with --approve-above {(spent + need).quantize(Decimal('0.01')) + 1}")

    def _meter_tokens(self, client, before: dict[str, float], state: dict) -> Decimal:
        """The tokens of the model call just made (failed calls a provider bills too), into the ledger."""
        after = client.usage.quantities()
        delta = {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0)}
        state["model_calls"] += 1
        if not delta:
            return Decimal(0)
        usage = Usage(skill=f"agent-{self.name}", version=self.version, backend=client.provider.identity,
                      quantities=delta)
        cost = self.box.meter("producer model call", usage,
                              f"agent:{self.box.session}:model:{state['model_calls']}")
        state["last_model_cost"] = cost
        return cost


def _text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return str(content)


def _arguments(arguments: Any) -> Any:
    """Arguments as the decision log shows them: parsed when they are JSON, else as sent."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments
