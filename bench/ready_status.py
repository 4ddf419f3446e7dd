"""A status to copy onto many objects, and the idle operator they are measured against.

The memory scenarios fill the cache with thousands of objects whose status must be as large as a real one;
rather than invent it, one job is taken to Ready by this operator against an emulator of its own that
finishes a job within seconds at real-time speed (so its end time is in the past, as in production), and
its status is the template.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from bench.emulator_process import EmulatorProcess
from bench.env import TUNINGJOBS, BenchEnv, StateWatcher, operator_pid, tuning_job, wait_settled
from bench.procstat import rss_bytes

REQUIRED_PARTS = ("latestMetrics", "tunedModel", "conditions")


def ready_status(
    env: BenchEnv, workdir: Path, namespace: str, test_prompts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The status of a job named `template` in `namespace` once Ready (and its test prompts answered)."""
    with EmulatorProcess(
        workdir / f"emulator-template-{namespace}.log", pending_seconds=0, step_seconds=0.1, total_steps=20
    ) as quick:
        operator = env.start_operator(namespace, quick.url, ["--poll-min-seconds=0.5"], label="template")
        try:
            body = tuning_job("template")
            if test_prompts:
                body["spec"]["testPrompts"] = test_prompts
            with StateWatcher(env, namespace) as watcher:
                env.create_jobs(namespace, [body])
                watcher.wait_ready(1, 120)
            deadline = time.monotonic() + 120
            while test_prompts and not status_of(env, namespace, "template").get("testPromptResults"):
                if time.monotonic() > deadline:
                    raise TimeoutError("the template job's test prompts were not answered within 120 s")
                time.sleep(0.5)
            wait_settled(operator)
        finally:
            operator.stop()
    status = status_of(env, namespace, "template")
    required = (*REQUIRED_PARTS, "testPromptResults") if test_prompts else REQUIRED_PARTS
    missing = [part for part in required if not status.get(part)]
    if missing:
        raise RuntimeError(f"the template job's status has no {', '.join(missing)}: {sorted(status)}")
    return copy.deepcopy(status)


def status_of(env: BenchEnv, namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = env.admin.get(TUNINGJOBS.object_path(name, namespace)).get("status") or {}
    return status


def idle_rss(env: BenchEnv, emulator_url: str, label: str) -> int:
    """Resident bytes of a fresh operator watching an empty namespace, once it has settled."""
    operator = env.start_operator(env.new_namespace(label), emulator_url, label=label)
    try:
        wait_settled(operator)
        return rss_bytes(operator_pid(operator))
    finally:
        operator.stop()
