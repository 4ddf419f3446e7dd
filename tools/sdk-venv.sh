#!/usr/bin/env bash
# Prints the path of a Python that has google-cloud-aiplatform at the versions pinned in
# tests/sdk_contract/aiplatform-requirements.txt, creating its venv first when missing. The venv lives outside
# the repository, keyed by that file's hash, so a warm run costs nothing (see that file for why it is not .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

requirements=tests/sdk_contract/aiplatform-requirements.txt
key=$(sha256sum "$requirements" | cut -c1-16)
venv=${XDG_CACHE_HOME:-$HOME/.cache}/vertexops/sdk-aiplatform-$key
if [[ ! -x $venv/bin/python || ! -f $venv/.installed ]]; then
  rm -rf "$venv"
  python=${PYTHON:-python3}
  "$python" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements" >&2
  touch "$venv/.installed"
fi
echo "$venv/bin/python"
