#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine or a warm one, in three stages:
#   main    the bare control plane (kube-apiserver + etcd) with the operator as a local process: most tests
#   node    a real node (kubelet, containerd, runc) running the operator's own image as the chart's Pods
#   gitops  real Argo CD and Flux syncing from Git repositories the tests commit to
# Every tool is installed (or found in its versioned cache outside the repository) before the first test, so
# a missing build fails in the first minutes, not after the main stage.
#
# The main stage runs first, on two pytest workers; then the node and gitops stages side by side.
#
#   tools/test.sh                              every stage (what CI runs)
#   tools/test.sh tests/api -x                 the main stage alone, with those pytest arguments
#   VERTEXOPS_TEST_STAGES="main gitops" tools/test.sh        the chosen stages
#   VERTEXOPS_TEST_STAGES="node" tools/test.sh -k upgrade    the chosen stages, each given the arguments
#   VERTEXOPS_TEST_WORKERS=1 tools/test.sh tests/e2e         the main stage on one worker (plain pytest)
# The node stage needs root (it mounts, makes a bridge and runs containerd).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
step() { printf '\n== %s (at %dm%02ds)\n' "$*" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)); }

if [[ -z "${VERTEXOPS_TEST_STAGES:-}" ]]; then
  if (($#)); then stages=(main); else stages=(main node gitops); fi
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

# The main stage's tests mostly wait (on the operator, the emulator, the API server), so two pytest workers
# (pytest-xdist, each with its own control plane; a file's tests stay on one worker) halve its time on 2 cores.
workers=${VERTEXOPS_TEST_WORKERS:-2}
parallel=()
if ((workers > 1)); then parallel=(-n "$workers" --dist loadfile); fi
if wants main; then
  step "pytest: main stage (bare control plane, $workers workers)"
  .venv/bin/pytest -m "not gitops_engines and not node" "${parallel[@]}" "$@"
fi

node_stage() { .venv/bin/pytest -m node tests/node "$@"; }
gitops_stage() { .venv/bin/pytest -m gitops_engines tests/gitops_engines "$@"; }
if wants node && wants gitops; then
  # Side by side: each has its own control plane on free ports, and both spend most of their time waiting
  # on the engines, the kubelet and the jobs. Each one's output is printed whole when it ends.
  step "pytest: node stage (the operator's image on a real node) and gitops stage (real Argo CD and Flux), side by side"
  logs=$(mktemp -d)
  trap 'rm -rf "$logs"' EXIT
  node_stage "$@" >"$logs/node" 2>&1 &
  node_pid=$!
  gitops_stage "$@" >"$logs/gitops" 2>&1 &
  gitops_pid=$!
  failed=()
  for stage in node gitops; do
    pid_var=${stage}_pid
    rc=0
    wait "${!pid_var}" || rc=$?
    step "$stage stage output (exit $rc)"
    cat "$logs/$stage"
    if ((rc)); then failed+=("$stage"); fi
  done
  if ((${#failed[@]})); then
    echo "test.sh: failed stages: ${failed[*]}" >&2
    exit 1
  fi
elif wants node; then
  step "pytest: node stage (the operator's image on a real node)"
  node_stage "$@"
elif wants gitops; then
  step "pytest: gitops stage (real Argo CD and Flux)"
  gitops_stage "$@"
fi
step "done: ${stages[*]}"
