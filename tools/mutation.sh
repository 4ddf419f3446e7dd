#!/usr/bin/env bash
# Mutation testing (mutmut) of the modules where a silent bug costs money or leaks a secret, with the fast
# tests that cover them: the Google transport and auth, the Vertex client, log redaction. The scope, the
# tests and the options are in pyproject.toml ([tool.mutmut]). Slow (about 20 minutes on 2 cores), so not
# part of CI; the last result, triaged, is in docs/mutation-testing.md.
#
#   tools/mutation.sh            # a fresh run; prints the survivors and writes them to mutants/survivors.txt
#   tools/mutation.sh --resume   # go on with an interrupted run
#   MUTATION_JOBS=1 tools/mutation.sh
#
# `.venv/bin/mutmut show NAME` prints one mutant's diff; `.venv/bin/mutmut browse` explores them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/bootstrap-python.sh
if [[ ${1:-} != --resume ]]; then
  rm -rf mutants
fi
# The emulator tests (and every ADC discovery) must never probe the metadata server.
export NO_GCE_CHECK=True
status=0
.venv/bin/mutmut run --max-children "${MUTATION_JOBS:-2}" || status=$?
.venv/bin/mutmut results | grep -v ': killed$' >mutants/survivors.txt || true
echo "mutation: $(grep -c ': survived$' mutants/survivors.txt || true) survived," \
  "$(grep -c ': no tests$' mutants/survivors.txt || true) not covered by the selected tests," \
  "$(grep -c ': timeout$' mutants/survivors.txt || true) timed out; list in mutants/survivors.txt"
exit "$status"
