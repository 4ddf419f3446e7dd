#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine or a warm one, in three stages:
#   main    the bare control plane (kube-apiserver + etcd) with the operator as a local process: most tests
#   node    a real node (kubelet, containerd, runc) running the operator's own image as the chart's Pods
#   gitops  real Argo CD and Flux syncing from Git repositories the tests commit to
# Every tool is installed (or found in its versioned cache outside the repository) before the first test, so
# a missing build fails in the first minutes, not after the main stage.
#
#   tools/test.sh                              the main and node stages (what CI runs; the README says why
#                                              the gitops stage is not in it yet)
#   tools/test.sh tests/api -x                 the main stage alone, with those pytest arguments
#   VERTEXOPS_TEST_STAGES=all tools/test.sh    every stage
#   VERTEXOPS_TEST_STAGES="node" tools/test.sh -k upgrade    the chosen stages, each given the arguments
# The node stage needs root (it mounts, makes a bridge and runs containerd).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
step() { printf '\n== %s (at %dm%02ds)\n' "$*" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)); }

if [[ -z "${VERTEXOPS_TEST_STAGES:-}" ]]; then
  if (($#)); then stages=(main); else stages=(main node); fi
elif [[ $VERTEXOPS_TEST_STAGES == all ]]; then
  stages=(main node gitops)
else
  read -r -a stages <<<"$VERTEXOPS_TEST_STAGES"
fi
for s in "${stages[@]}"; do
  case $s in main | node | gitops) ;; *) echo "test.sh: unknown stage '$s' (main, node, gitops)" >&2; exit 2 ;; esac
done
wants() { [[ " ${stages[*]} " == *" $1 "* ]]; }
if wants node && ((EUID != 0)); then
  echo "test.sh: the node stage needs root; run as root or choose stages: VERTEXOPS_TEST_STAGES=\"main gitops\"" >&2
  exit 2
fi

step "tools"
bash tools/install-tools.sh
if wants node; then bash tools/install-node-tools.sh; fi
if wants gitops; then bash tools/install-gitops-engines.sh; fi
step "python environment"
bash tools/bootstrap-python.sh
if wants node; then
  step "operator image"
  bash tools/build-image.sh >/dev/null
fi
step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy
step "generated files are up to date"
.venv/bin/python tools/check-generated.py

if wants main; then
  step "pytest: main stage (bare control plane)"
  .venv/bin/pytest -m "not gitops_engines and not node" "$@"
fi
if wants node; then
  step "pytest: node stage (the operator's image on a real node)"
  .venv/bin/pytest -m node tests/node "$@"
fi
if wants gitops; then
  step "pytest: gitops stage (real Argo CD and Flux)"
  .venv/bin/pytest -m gitops_engines tests/gitops_engines "$@"
fi
step "done: ${stages[*]}"
