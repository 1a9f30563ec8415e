#!/usr/bin/env bash
# Render the demo episode on the CPU: installs what the demo needs (no torch, diffusers or
# transformers), then runs `microdrama demo`. Extra arguments go to `microdrama demo` (try --help).
MICRODRAMA_EXTRAS=
source "$(dirname "$0")/_bootstrap.sh"
exec microdrama demo "$@"
