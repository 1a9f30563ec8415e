"""`microdrama mcp`: the agent tool set (microdrama/tools.py) as an MCP server, over stdio or streamable HTTP.

It lives in pipelines/ because it owns the warm render worker (a Prefect flow in this process): a long render
is started by `render_episode` or `render_shot`, which answer at once with a job id, and `job_status` reports its
state and progress lines (waiting up to a minute per call). Tool errors — a bad argument, a refused input, a
budget that is spent — come back as results marked `is_error` with the readable message, so the model can
correct itself; a tool is run in a worker thread, so a slow one never blocks the protocol.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server

from microdrama import __version__
from microdrama.config import ProjectConfig
from microdrama.errors import MicrodramaError
from microdrama.tools import TOOLS, Toolbox

INSTRUCTIONS = ("Tools over the microdrama skill library: validate a brief, quote it, render an episode (async: "
                "poll job_status), review its takes (list_takes, approve_take, reject_take), redo a shot "
                "(render_shot), and read the R&D cost ledger. Every call is metered under the server's project code.")


def toolbox(out_dir: Path, config: ProjectConfig, *, project_code: str | None = None,
            budget_rmb: float | None = None, worker: Any = None) -> Toolbox:
    """The tools with a warm render worker started in this process (one render at a time)."""
    if worker is None:
        from microdrama.pipelines.studio import RenderWorker

        worker = RenderWorker().start()
    return Toolbox(out_dir, config, worker=worker, project_code=project_code, caller="mcp",
                   budget_rmb=Decimal(str(budget_rmb)) if budget_rmb is not None else None)


def create_server(box: Toolbox) -> Server:
    """An MCP server exposing every tool of `box`, with its generated input schema."""
    listed = [types.Tool(name=t.name, description=t.description, input_schema=Toolbox.schema(t))
              for t in TOOLS.values()]

    async def on_list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await anyio.to_thread.run_sync(box.call, params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(text=result.text())],
                                    structured_content=result.data if result.ok else None,
                                    is_error=not result.ok)

    async def on_list_resources(ctx, params) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=await anyio.to_thread.run_sync(_resources, box))

    async def on_list_resource_templates(ctx, params) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[
            types.ResourceTemplate(name=name, uri_template=uri, description=what, mime_type="application/json")
            for name, uri, what in RESOURCE_TEMPLATES])

    async def on_read_resource(ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        text = await anyio.to_thread.run_sync(_read, box, str(params.uri))
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=str(params.uri), text=text,
                                                                             mime_type="application/json")])

    return Server("microdrama", version=__version__, instructions=INSTRUCTIONS, on_list_tools=on_list_tools,
                  on_call_tool=on_call_tool, on_list_resources=on_list_resources,
                  on_list_resource_templates=on_list_resource_templates, on_read_resource=on_read_resource)


# Progress and results as resources, beside the tools that start them: a render's job, a run's manifest and takes.
RESOURCE_TEMPLATES = [
    ("job", "microdrama://jobs/{job_id}", "a render's state and every progress line so far"),
    ("manifest", "microdrama://runs/{run}/manifest", "a finished run's manifest: cost, labels, takes, review"),
    ("takes", "microdrama://runs/{run}/takes", "every take of every shot with its checks and cost (list_takes)"),
]


def _resources(box: Toolbox) -> list[types.Resource]:
    found = [types.Resource(name=f"job {job_id}", uri=f"microdrama://jobs/{job_id}", mime_type="application/json")
             for job_id in list(box.jobs)]
    for folder in sorted(p for p in box.out_dir.iterdir() if (p / "manifest.json").is_file()):
        found += [types.Resource(name=f"{folder.name} {what}", uri=f"microdrama://runs/{folder.name}/{what}",
                                 mime_type="application/json") for what in ("manifest", "takes")]
    return found


def _read(box: Toolbox, uri: str) -> str:
    """A resource's JSON; an unknown or refused one reads as an error message (never a traceback)."""
    parts = uri.removeprefix("microdrama://").split("/")
    if uri.startswith("microdrama://jobs/") and len(parts) == 2:
        result = box.call("job_status", {"job_id": parts[1]})
    elif uri.startswith("microdrama://runs/") and len(parts) == 3 and parts[2] == "takes":
        result = box.call("list_takes", {"run": parts[1]})
    elif uri.startswith("microdrama://runs/") and len(parts) == 3 and parts[2] == "manifest":
        try:
            return json.dumps(box.manifest(parts[1]), ensure_ascii=False)
        except MicrodramaError as exc:
            return json.dumps({"error": str(exc)}, ensure_ascii=False)
    else:
        return json.dumps({"error": f"{uri}: not a microdrama resource; see the resource templates"})
    return result.text()


def serve_stdio(box: Toolbox) -> None:
    from mcp.server.stdio import stdio_server

    server = create_server(box)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


def serve_http(box: Toolbox, port: int) -> None:
    """Streamable HTTP on 127.0.0.1 only (with the SDK's DNS-rebinding protection): the tools spend money."""
    import uvicorn

    app = create_server(box).streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
