"""Deployments: flow parameters survive the trip to a served run, and `microdrama deploy`/`worker` ask Prefect
for the right pools, deployments, limits and device pinning."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from microdrama import deploy
from microdrama.errors import InputError


def test_flow_parameters_validate_in_a_served_runs_process():
    """`flow.serve()` hands the flow to its run process by value (cloudpickle): string annotations from
    `from __future__ import annotations` then no longer resolve (`Episode_FlowModel is not fully defined`)."""
    import cloudpickle
    from prefect.utilities.callables import parameter_schema

    from microdrama.pipelines.episode import episode_flow
    from microdrama.pipelines.series import series_flow

    for flow, params in ((episode_flow, {"source": "ep.yaml", "config": {}, "out_dir": "out"}),
                         (series_flow, {"spec_path": "s.yaml", "config": {}, "deployment": "episode/x"})):
        assert set(params) <= set(parameter_schema(flow).properties)
        served = cloudpickle.loads(cloudpickle.dumps(flow))
        validated = served.validate_parameters(params)
        assert isinstance(validated["config"], type(validated["config"])) and validated["config"].project_code
        assert isinstance(next(v for k, v in validated.items() if k in ("source", "spec_path")), Path)


def test_series_sends_absolute_paths_and_the_config_as_data(tmp_path):
    from microdrama.config import ProjectConfig
    from microdrama.pipelines.series import _jsonable

    sent = _jsonable({"source": tmp_path / "ep.yaml", "config": ProjectConfig(), "takes": 1})
    assert sent["source"] == str(tmp_path / "ep.yaml") and isinstance(sent["config"], dict) and sent["takes"] == 1


def test_auto_device_names_the_limit_of_the_device_it_resolves_to(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert deploy.device_limit_name("auto") == "microdrama-gpu-cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert deploy.device_limit_name("auto") == "microdrama-gpu-cuda"
    assert deploy.device_limit_name("cuda:1") == "microdrama-gpu-cuda-1"


def test_deploy_creates_pools_module_path_deployments_and_device_limits(tmp_path):
    calls = []

    def fake(args, cwd):
        calls.append((args, cwd))
        exists = args[:2] == ["work-pool", "create"] and args[2] == "microdrama-cpu"
        return subprocess.CompletedProcess(args, 1 if exists else 0, "Work pool already exists" if exists else "", "")

    p = deploy.apply(deploy.plan(tmp_path, devices=("cuda:0", "cuda:1"), gpu_slots=2), run=fake, echo=lambda _: None)
    assert p.names() == ["episode/microdrama-cpu", "episode/microdrama-gpu", "series/microdrama-cpu"]
    deploys = [(a, cwd) for a, cwd in calls if "deploy" in a]
    assert all(a[2] == deploy.EPISODE_ENTRYPOINT or a[2] == deploy.SERIES_ENTRYPOINT for a, _ in deploys)
    assert all(":" not in a[2] and cwd == tmp_path.resolve() for a, cwd in deploys)  # module path; shared folder
    assert all(f"working_dir={tmp_path.resolve()}" in a for a, _ in deploys)
    assert "deployment=episode/microdrama-cpu" in deploys[-1][0]
    assert [a for a, _ in calls if a[0] == "gcl"] == [["gcl", "create", "microdrama-gpu-cuda-0", "--limit", "2"],
                                                      ["gcl", "create", "microdrama-gpu-cuda-1", "--limit", "2"]]


def test_deploy_refuses_what_cannot_work(tmp_path):
    with pytest.raises(InputError, match="PREFECT_API_URL"):
        deploy.require_server({})
    with pytest.raises(InputError, match="--workdir"):
        deploy.plan(tmp_path / "missing")
    with pytest.raises(InputError, match="--episodes-on"):
        deploy.plan(tmp_path, episodes_on="tpu")


def test_a_worker_is_pinned_to_its_device():
    assert deploy.worker_env("cuda:1", {})["CUDA_VISIBLE_DEVICES"] == "1"
    assert deploy.worker_env("cpu", {})["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in deploy.worker_env(None, {})
    with pytest.raises(InputError, match="--device"):
        deploy.worker_env("gpu0", {})
    cmd = deploy.worker_command(deploy.pool_name("gpu"), device="cuda:1")
    assert cmd[cmd.index("--pool") + 1] == "microdrama-gpu" and cmd[cmd.index("--type") + 1] == "process"


def test_artifact_keys_are_valid_and_unique_per_episode():
    from microdrama.pipelines.reporting import artifact_key

    names = ["test_series-ep01", "test_series-ep02", "寻味上海-ep01", "暖手杯-ep01", "My Drama-ep01"]
    keys = [artifact_key("cost", n) for n in names]
    assert all(re.fullmatch(r"[a-z0-9-]+", k) for k in keys) and len(set(keys)) == len(keys)
    assert keys[0] == "cost-test-series-ep01"


def test_progress_lines_reach_the_flow_run_log_while_the_console_shows_warnings(tmp_path):
    """Prefect's level used to be WARNING for every logger, so `get_run_logger().info(progress)` never reached
    the server; now only the console handler is held at WARNING."""
    code = ("import logging, microdrama.pipelines, prefect\n"
            "from prefect.logging.configuration import setup_logging\n"
            "setup_logging()\n"
            "console = [h for h in logging.getLogger().handlers if type(h).__name__ == 'PrefectConsoleHandler']\n"
            "print(logging.getLogger('prefect.flow_runs').getEffectiveLevel(), console[0].level)\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PREFECT_LOGGING")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         check=True).stdout.split()
    flow_runs_level, console_level = map(int, out)
    assert (flow_runs_level, console_level) == (20, 30)  # INFO to the run's log on the server, WARNING on the console
