#!/usr/bin/env bash
# Mutation testing (mutmut) of the code where a silent bug costs money or leaks a secret, with the fast
# tests that cover it: the Google transport and auth, the Vertex client, log redaction, and the reconciler's
# create and delete protocol (its functions listed below; the rest of the reconciler is status and events).
# The files, the tests and the options are in pyproject.toml ([tool.mutmut]). Slow (over an hour on 2
# cores), so not part of CI; the last result, triaged, is in docs/mutation-testing.md.
#
#   tools/mutation.sh            # a fresh run; prints the survivors and writes them to mutants/survivors.txt
#   tools/mutation.sh --resume   # go on with an interrupted run
#   tools/mutation.sh --resume 'controller.reconciler.*'   # only the mutants matching these patterns
#   MUTATION_JOBS=1 tools/mutation.sh
#
# `.venv/bin/mutmut show NAME` prints one mutant's diff; `.venv/bin/mutmut browse` explores them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/bootstrap-python.sh
if [[ ${1:-} == --resume ]]; then
  shift
else
  rm -rf mutants
fi
# What is mutated: every function of these modules, and the reconciler's protocol functions.
scope=(
  'controller.google.auth.*'
  'controller.google.transport.*'
  'controller.google.vertex.*'
  'controller.runtime.log.*'
  'controller.reconciler.xǁReconcilerǁ_create__mutmut_*'
  'controller.reconciler.xǁReconcilerǁ_create_may_still_land__mutmut_*'
  'controller.reconciler.xǁReconcilerǁ_finalize__mutmut_*'
  'controller.reconciler.xǁReconcilerǁ_add_finalizer__mutmut_*'
  'controller.reconciler.xǁReconcilerǁ_remove_finalizer__mutmut_*'
  'controller.reconciler.xǁReconcilerǁ_deleting_message__mutmut_*'
)
if (($#)); then scope=("$@"); fi
# The emulator tests (and every ADC discovery) must never probe the metadata server.
export NO_GCE_CHECK=True
status=0
.venv/bin/mutmut run --max-children "${MUTATION_JOBS:-2}" "${scope[@]}" || status=$?
.venv/bin/mutmut results | grep -v ': killed$' | grep -v ': not checked$' >mutants/survivors.txt || true
echo "mutation: $(grep -c ': survived$' mutants/survivors.txt || true) survived," \
  "$(grep -c ': no tests$' mutants/survivors.txt || true) not covered by the selected tests," \
  "$(grep -c ': timeout$' mutants/survivors.txt || true) timed out; list in mutants/survivors.txt"
exit "$status"
