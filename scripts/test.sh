#!/usr/bin/env bash
# Run the test suite: installs what it needs (the project with its `dev` extras), then runs pytest.
# Extra arguments go to pytest.
MICRODRAMA_EXTRAS=dev
source "$(dirname "$0")/_bootstrap.sh"
exec python -m pytest "$@"
