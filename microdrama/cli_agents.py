"""CLI commands for agents (registered on the main app in microdrama/cli.py): `microdrama mcp` and `microdrama produce`.

Both need the warm render worker, which lives in pipelines/ with Prefect; like the other commands that start
pipelines, they load it only inside the command, so importing the CLI stays cheap.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Optional

import typer

from microdrama.errors import InputError


def _config(config: Optional[Path]):
    from microdrama.config import ProjectConfig
    from microdrama.run import configure

    return configure(ProjectConfig.load(config))[0]


def mcp(
    out: Path = typer.Option(Path("out"), help="output root: run folders, the ledger and skill work folders"),
    config: Optional[Path] = typer.Option(None, help="project config YAML (stages, render settings, ledger)"),
    project: Optional[str] = typer.Option(None, help="R&D project code tool calls are metered under "
                                                     "(default: the config's project_code)"),
    budget: Optional[float] = typer.Option(None, "--budget", min=0, help="cap on everything spent through the "
                                           "server (RMB): spending tools are refused once it is gone"),
    http: bool = typer.Option(False, "--http", help="serve streamable HTTP on 127.0.0.1 instead of stdio"),
    port: int = typer.Option(8766, min=1, max=65535, help="port for --http"),
    allow: list[Path] = typer.Option([], "--allow", help="another folder whose briefs and screenplays a tool may "
                                     "read by path (always: the current folder and OUT)"),
) -> None:
    """Serve the agent tool set (skills, validate, quote, render, review, ledger) as an MCP server."""
    import sys

    from microdrama.cli import _flow_log  # Prefect's warnings and tracebacks go to OUT/microdrama.log, not stdout

    cfg = _config(config)
    from microdrama.pipelines import mcp_server as server
    with _flow_log(out):
        box = server.toolbox(out, cfg, project_code=project, budget_rmb=budget)
        box.read_roots += [p.resolve() for p in allow]
        if http:
            print(f"microdrama mcp: http://127.0.0.1:{port}/mcp (streamable HTTP; Ctrl-C to stop)", file=sys.stderr)
            server.serve_http(box, port)
        else:
            server.serve_stdio(box)


def produce(
    brief: Path = typer.Argument(..., help="a brief (or screenplay) YAML"),
    budget: float = typer.Option(..., "--budget", min=0, help="hard cap on everything the production spends (RMB): "
                                 "model tokens, tool calls, renders and redos"),
    takes: int = typer.Option(1, "--takes", min=1, max=20, help="generations per shot"),
    max_calls: int = typer.Option(40, "--max-calls", min=1, max=1000, help="hard cap on tool calls"),
    max_minutes: float = typer.Option(30.0, "--max-minutes", min=0.1, help="hard cap on wall time"),
    approve_above: Optional[float] = typer.Option(None, "--approve-above", min=0, help="pause (stop with a message) "
                                                  "before the spend would pass this many RMB"),
    name: Optional[str] = typer.Option(None, help="run folder name (default: the brief's file stem)"),
    out: Path = typer.Option(Path("out"), help="output root"),
    config: Optional[Path] = typer.Option(None, help="project config YAML; its `llm:` (or MICRODRAMA_LLM_*) is the "
                                                     "producer's model"),
    project: Optional[str] = typer.Option(None, help="R&D project code for the agent's tokens and tool calls "
                                                     "(default RD-AGENT-PRODUCER)"),
) -> None:
    """Produce an episode with the producer agent: validate, quote, render, review, redo the worst shots."""
    from microdrama.agents.base import AgentDeps
    from microdrama.agents.producer import ProducerAgent, ProduceTask
    from microdrama.llm.client import ChatClient
    from microdrama.run import check_run_name
    from microdrama.tools import Toolbox

    cfg = _config(config)
    if cfg.llm is None:
        raise InputError("produce needs a tool-calling model: set MICRODRAMA_LLM_BASE_URL and MICRODRAMA_LLM_MODEL "
                         "(and MICRODRAMA_LLM_API_KEY), or `llm:` in the config")
    run_name = check_run_name(name or brief.stem)
    if not brief.is_file():
        raise InputError(f"{brief}: no such file. Pass a brief YAML.")
    from microdrama.cli import _flow_log
    from microdrama.pipelines.studio import RenderWorker

    task = ProduceTask(source=brief, name=run_name, budget_rmb=Decimal(str(budget)), takes=takes, max_calls=max_calls,
                       max_minutes=max_minutes,
                       approve_above_rmb=Decimal(str(approve_above)) if approve_above is not None else None)
    with _flow_log(out):
        box = Toolbox(out, cfg, worker=RenderWorker().start(),
                      project_code=project or ProducerAgent.project_code, caller="producer",
                      budget_rmb=task.budget_rmb)
        client = ChatClient(cfg.llm, transcript_dir=box.out_dir / run_name / "llm-producer")
        result = ProducerAgent(box).run(AgentDeps(client=client), task)
    typer.echo(f"{result.status}: {result.reason}")
    typer.echo(f"spent {result.spent_rmb} of {result.budget_rmb} RMB in {result.tool_calls} tool call(s) and "
               f"{result.model_calls} model call(s), metered under {result.project_code}; decision log: {result.log}")
    if result.status in ("stopped", "paused", "failed"):
        raise typer.Exit(code=1)
