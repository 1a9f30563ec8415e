# Sourced by demo.sh and test.sh: create .venv and install the project once, idempotently.
# Re-installs only when pyproject.toml or the constraints change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.microdrama-installed
want=$(cat pyproject.toml constraints/cpu.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing microdrama and its dependencies into .venv (first run takes about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off \
    -c constraints/cpu.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
# Offline by design: no model hub, Prefect state inside the work tree, no analytics.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1
export PREFECT_HOME="$PWD/.prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false
