#!/usr/bin/env bash
# The local demo on a fresh machine: installs what it needs, then runs `vertexops dev` (a local control
# plane, the Google API emulator, the operator and a sample TuningJob, with live progress; Ctrl-C stops it).
# Extra arguments go to `vertexops dev` (see `vertexops dev --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install-tools.sh
bash tools/bootstrap-python.sh
exec .venv/bin/vertexops dev "$@"
