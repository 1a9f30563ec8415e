"""The MCP server: tools listed with their generated schemas, errors as tool results the model can read, and
(slow) a real client over stdio that renders a tiny episode through the tools and reviews it."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
import yaml
from mcp import Client, StdioServerParameters

from microdrama.config import ProjectConfig
from microdrama.pipelines.mcp_server import create_server
from microdrama.tools import TOOLS, Toolbox
from tests.agents.fakes import TINY, FakeWorker
from tests.conftest import TINY_SCREENPLAY


def test_the_server_lists_every_tool_and_answers_a_bad_argument_as_a_readable_tool_error(tmp_path):
    box = Toolbox(tmp_path, ProjectConfig.model_validate(TINY), worker=FakeWorker())

    async def session():
        async with Client(create_server(box)) as client:
            listed = (await client.list_tools()).tools
            bad = await client.call_tool("validate", {"txt": "x"})
            good = await client.call_tool("list_skills", {"stage": "compose"})
            return listed, bad, good

    listed, bad, good = anyio.run(session)
    assert [t.name for t in listed] == list(TOOLS)
    assert next(t for t in listed if t.name == "render_shot").input_schema["required"] == ["run", "shot_id"]
    assert bad.is_error and "txt: unknown key; did you mean 'text'?" in bad.content[0].text
    assert not good.is_error and good.structured_content["skills"][0]["stage"] == "compose"


def test_a_renders_progress_and_results_are_resources(tmp_path):
    from tests.conftest import TINY_SCREENPLAY as SP

    box = Toolbox(tmp_path, ProjectConfig.model_validate(TINY), worker=FakeWorker())

    async def session():
        async with Client(create_server(box)) as client:
            started = await client.call_tool("render_episode", {"text": yaml.safe_dump(SP, allow_unicode=True),
                                                                "name": "ep1"})
            job = json.loads(started.content[0].text)["job_id"]
            templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
            uris = [str(r.uri) for r in (await client.list_resources()).resources]
            read = {u: json.loads((await client.read_resource(u)).contents[0].text) for u in uris}
            bad = json.loads((await client.read_resource("microdrama://runs/../../etc/takes")).contents[0].text)
            return job, templates, read, bad

    job, templates, read, bad = anyio.run(session)
    assert templates == ["microdrama://jobs/{job_id}", "microdrama://runs/{run}/manifest",
                         "microdrama://runs/{run}/takes"]
    assert read[f"microdrama://jobs/{job}"]["state"] == "done" and read[f"microdrama://jobs/{job}"]["lines"]
    assert read["microdrama://runs/ep1/manifest"]["run_id"] and read["microdrama://runs/ep1/takes"]["shots"]
    assert "not a microdrama resource" in bad["error"]  # a path that leaves OUT names nothing


def test_streamable_http_on_loopback_serves_the_same_tools_and_refuses_another_host(tmp_path):
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    box = Toolbox(tmp_path, ProjectConfig.model_validate(TINY), worker=FakeWorker())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_server(box).streamable_http_app(host="127.0.0.1"),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        async def session():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                return [t.name for t in (await client.list_tools()).tools], await client.call_tool(
                    "validate", {"text": "title: x"})

        names, answer = anyio.run(session)
        assert names == list(TOOLS)
        assert answer.structured_content["valid"] is False and "premise" in answer.content[0].text
        rebound = httpx.post(f"http://127.0.0.1:{port}/mcp", headers={"host": "evil.example:80"},
                             json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert rebound.status_code in (400, 403, 421)  # DNS rebinding protection: only the loopback host
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.slow
def test_a_client_over_stdio_renders_a_tiny_episode_and_reviews_its_takes(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    server = StdioServerParameters(command=sys.executable, cwd=str(tmp_path), env=dict(os.environ), args=[
        "-m", "microdrama.cli", "mcp", "--out", str(tmp_path / "out"), "--config", str(config),
        "--project", "RD-MCP"])
    text = yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True)

    async def session():
        async with Client(server, read_timeout_seconds=300) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            started = await client.call_tool("render_episode", {"text": text, "name": "ep1"})
            assert not started.is_error, started.content[0].text
            job, lines = json.loads(started.content[0].text)["job_id"], []
            for _ in range(10):  # each poll waits up to 60 s for the render to end
                status = json.loads((await client.call_tool("job_status", {"job_id": job, "wait_s": 60})).content[0]
                                    .text)
                lines += status["lines"]
                if status["state"] in ("done", "failed"):
                    break
            takes = await client.call_tool("list_takes", {"run": "ep1"})
            approve = await client.call_tool("approve_take", {"run": "ep1", "shot_id": "s01", "take": 1})
            ledger = await client.call_tool("ledger_summary", {})
            return names, status, lines, json.loads(takes.content[0].text), approve, json.loads(ledger.content[0].text)

    names, status, lines, takes, approve, ledger = anyio.run(session)
    assert "render_episode" in names and "job_status" in names
    assert status["state"] == "done", status["error"]
    assert any(line.startswith("done:") for line in lines)  # the progress lines came through the polls
    assert [s["shot_id"] for s in takes["shots"]] == ["s01", "s02", "s03"]
    assert all(s["takes"][0]["in_cut"] for s in takes["shots"]) and takes["episode"]["labels_ok"] is True
    assert not approve.is_error
    # tool calls under the server's project code; the render's own steps under the episode config's
    assert ledger["this_session"]["project"] == "RD-MCP" and ledger["by_project"].keys() == {"RD-MCP", "RD-EPISODE"}
    assert (tmp_path / "out" / "ep1" / "episode.mp4").is_file()
