#!/usr/bin/env bash
# Run the test suite: installs what it needs (the project with its `dev` extras), then runs pytest.
# Extra arguments go to pytest. Test files run on two processes (pytest-xdist, a file's tests stay together so
# its module fixtures render once); MICRODRAMA_TEST_WORKERS=0 runs everything in this one process.
MICRODRAMA_EXTRAS=dev
source "$(dirname "$0")/_bootstrap.sh"
workers="${MICRODRAMA_TEST_WORKERS:-2}"
if [ "$workers" != "0" ] && [[ " $* " != *" -n "* ]]; then
  exec python -m pytest -n "$workers" --dist loadfile "$@"
fi
exec python -m pytest "$@"
