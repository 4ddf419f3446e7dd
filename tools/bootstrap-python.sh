#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs vertexops with its dev tools at the pinned versions of
# constraints.txt. Re-running is cheap: pip's cache lives outside the repository and a matching venv is kept.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "bootstrap-python: Python 3.11 or newer is required (found $("$python" --version 2>&1))" >&2; exit 1; }

stamp=.venv/.vertexops-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [[ -x .venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
echo "$want" >"$stamp"
