# Sourced by demo.sh and test.sh: create .venv and install the project once, idempotently.
# MICRODRAMA_EXTRAS names the optional dependency groups the caller needs: the demo needs none (no
# torch, diffusers or transformers), the tests need `dev`. Re-installs only when pyproject.toml or
# the constraints change, or when a caller needs an extra the venv does not have yet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
EXTRAS=${MICRODRAMA_EXTRAS:-}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.microdrama-installed
want=$(cat pyproject.toml constraints/cpu.txt | sha256sum | cut -c1-16)
have=$(cat "$stamp" 2>/dev/null || true)  # "<hash> <extras>"
have_hash=${have%% *}
have_extras=" "
case "$have" in *" "*) have_extras=" ${have#* } " ;; esac
needed=no
[ "$have_hash" = "$want" ] || needed=yes
for extra in ${EXTRAS//,/ }; do
  case "$have_extras" in *" $extra "*) ;; *) needed=yes ;; esac
done
if [ "$needed" = yes ]; then
  # Keep what an earlier call installed (the tests' extras stay when the demo runs, and vice versa).
  [ "$have_hash" = "$want" ] && for extra in ${have_extras}; do
    case ",$EXTRAS," in *",$extra,"*) ;; *) EXTRAS=${EXTRAS:+$EXTRAS,}$extra ;; esac
  done
  echo "==> installing microdrama${EXTRAS:+ [$EXTRAS]} into .venv (first run takes about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off \
    -c constraints/cpu.txt -e ".${EXTRAS:+[$EXTRAS]}"
  echo "$want ${EXTRAS//,/ }" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
# Offline by design: no model hub, Prefect state inside the work tree, no analytics.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1
export PREFECT_HOME="$PWD/.prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false
