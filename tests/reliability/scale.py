"""How big the reliability scenarios are: the CI size by default, the full soak with an environment variable.

`VERTEXOPS_RELIABILITY_SIZE=full` runs every scenario at the size our users' promise is stated for (100 jobs
under Google faults, 100 crash trials, ...). Each number can also be set on its own, e.g.
`VERTEXOPS_RELIABILITY_CRASH_TRIALS=300`, for a longer soak of one scenario.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Scale:
    #: jobs running while the emulator injects 503s, 429s, dropped connections and latency
    fault_jobs: int = 30
    #: SIGKILL trials of the operator (create, create-call and delete moments, in rotation)
    crash_trials: int = 30
    #: jobs running while kube-apiserver restarts, etcd history is compacted and labels are hammered
    apiserver_jobs: int = 12
    #: kube-apiserver outages (each followed by a compaction and a forced reconnect)
    apiserver_outages: int = 1
    #: times the leader replica is killed and replaced
    leader_kills: int = 4
    #: jobs running across the leader kills
    leader_jobs: int = 6


CI = Scale()
FULL = Scale(
    fault_jobs=100,
    crash_trials=100,
    apiserver_jobs=50,
    apiserver_outages=3,
    leader_kills=15,
    leader_jobs=20,
)


def current() -> Scale:
    base = FULL if os.environ.get("VERTEXOPS_RELIABILITY_SIZE", "ci").lower() == "full" else CI
    overrides: dict[str, int] = {}
    for f in fields(Scale):
        value = os.environ.get(f"VERTEXOPS_RELIABILITY_{f.name.upper()}")
        if value:
            overrides[f.name] = int(value)
    return Scale(**{**{f.name: getattr(base, f.name) for f in fields(Scale)}, **overrides})


SCALE = current()
