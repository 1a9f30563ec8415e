#!/usr/bin/env bash
# Render the demo episode on the CPU: installs what it needs, then runs `microdrama demo`.
# Extra arguments go to `microdrama demo` (try --help).
source "$(dirname "$0")/_bootstrap.sh"
exec microdrama demo "$@"
