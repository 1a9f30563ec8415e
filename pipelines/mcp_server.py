"""`microdrama mcp`: the agent tool set (microdrama/tools.py) as an MCP server, over stdio or streamable HTTP.

It lives in pipelines/ because it owns the warm render worker (a Prefect flow in this process): a long render
is started by `render_episode` or `render_shot`, which answer at once with a job id, and `job_status` reports its
state and progress lines (waiting up to a minute per call). Tool errors — a bad argument, a refused input, a
budget that is spent — come back as results marked `is_error` with the readable message, so the model can
correct itself; a tool is run in a worker thread, so a slow one never blocks the protocol.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server

from microdrama import __version__
from microdrama.config import ProjectConfig
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

    return Server("microdrama", version=__version__, instructions=INSTRUCTIONS, on_list_tools=on_list_tools,
                  on_call_tool=on_call_tool)


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
