"""Prefect settings: a server the user configured (environment or profile) is used; a private one otherwise."""

import os
import subprocess
import sys

from microdrama.env import prefect_server, profile_api_url


def test_the_active_profiles_server_is_found(tmp_path):
    (tmp_path / "profiles.toml").write_text(
        'active = "team"\n[profiles.default]\n[profiles.team]\nPREFECT_API_URL = "http://10.0.0.5:4200/api"\n',
        encoding="utf-8")
    assert profile_api_url({"PREFECT_HOME": str(tmp_path)}) == "http://10.0.0.5:4200/api"
    assert profile_api_url({"PREFECT_HOME": str(tmp_path), "PREFECT_PROFILE": "default"}) is None
    assert profile_api_url({"PREFECT_HOME": str(tmp_path / "none")}) is None


def test_a_profile_configured_server_is_honoured_not_bypassed(tmp_path):
    """`prefect config set PREFECT_API_URL=…` writes the user's profile; microdrama used to hide it behind a
    private PREFECT_HOME in the working folder."""
    home = tmp_path / "home"
    (home / ".prefect").mkdir(parents=True)
    (home / ".prefect" / "profiles.toml").write_text(
        'active = "default"\n[profiles.default]\nPREFECT_API_URL = "http://127.0.0.1:4999/api"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    code = ("import os, microdrama.pipelines; print(os.environ.get('PREFECT_API_URL'), "
            "os.environ.get('PREFECT_HOME'))")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["http://127.0.0.1:4999/api", "None"]
    without = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(tmp_path / "nobody")},
                             cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert without == ["None", str(tmp_path / ".prefect")]


def test_the_cli_says_which_server_it_uses():
    assert prefect_server({"PREFECT_API_URL": "http://x:4200/api"}) == "Prefect server http://x:4200/api"
    assert "temporary local Prefect server" in prefect_server({})
