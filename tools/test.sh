#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine or a warm one:
#   tools (kube-apiserver, etcd, kubectl, helm) -> Python env -> lint, types, generated files -> pytest
#   -> node tools (containerd & co., kubelet & co., pause image) and the operator image -> pytest on a real node.
# Extra arguments go to pytest instead, and then the node stage is left out (e.g. `tools/test.sh tests/api -x`;
# `tools/test.sh -m node tests/node` runs the node tests alone, installing what they need).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "tools"
bash tools/install-tools.sh
step "python environment"
bash tools/bootstrap-python.sh
step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy
step "generated files are up to date"
.venv/bin/python tools/check-generated.py
if (($#)); then
  step "pytest $*"
  .venv/bin/pytest "$@"
  exit 0
fi
step "pytest"
.venv/bin/pytest -m "not node"
step "node tools and the operator image"
bash tools/install-node-tools.sh
bash tools/build-image.sh >/dev/null
step "pytest on a real node"
.venv/bin/pytest -m node tests/node
