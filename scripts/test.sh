#!/usr/bin/env bash
# Run the test suite: installs what it needs, then runs pytest. Extra arguments go to pytest.
source "$(dirname "$0")/_bootstrap.sh"
exec python -m pytest "$@"
