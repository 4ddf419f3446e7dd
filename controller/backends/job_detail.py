"""Where a running tuning job really is, and which examples Vertex AI left out of it.

A job's `state` says only PENDING or RUNNING for hours. Vertex AI's v1beta1 `tuningJobState` says why a
pending job does not start (waiting for quota or for capacity, or processing the dataset) and what a running
one does (tuning, post-processing); `tuningJobMetadata` counts the completed epochs. The poller lists through
v1beta1, so both arrive with the listing at no extra call (see `vertex_poller`).

`tuningDataStats` also reports the examples Vertex AI dropped (too many tokens, an invalid image, ...): the
job goes on without them, which a user must hear of, once, not on every poll.
"""

from __future__ import annotations

from controller.api.conditions import Reason
from controller.api.tuningjob import MAX_DROPPED_EXAMPLES_SHOWN, TuningJobSubState
from controller.external import JsonObject
from controller.google.models_vertex import SupervisedTuningDataStats, TuningJob

_SUB_STATE_WORDS: dict[str, str] = {
    TuningJobSubState.WAITING_FOR_QUOTA: "waiting for quota",
    TuningJobSubState.PROCESSING_DATASET: "processing the dataset",
    TuningJobSubState.WAITING_FOR_CAPACITY: "waiting for capacity",
    TuningJobSubState.POST_PROCESSING: "post-processing",
}
# What a user can do about a job that waits; nothing is needed for the other sub-states.
_SUB_STATE_HINTS: dict[str, str] = {
    TuningJobSubState.WAITING_FOR_QUOTA: (
        "it starts when the project's tuning quota in the region allows; ask for more quota or finish other "
        "jobs to start it sooner"
    ),
    TuningJobSubState.WAITING_FOR_CAPACITY: "Vertex AI starts it when hardware is free in the region",
}


def sub_state_status(job: TuningJob, terminal: bool) -> JsonObject:
    """status.tuningJobState and status.tuningJobMetadata; both removed (None) once the job has ended,
    and left as they were when the answer came from v1 (which has neither)."""
    if terminal:
        return {"tuningJobState": None, "tuningJobMetadata": None}
    fields: JsonObject = {}
    if job.tuning_job_state and job.tuning_job_state != "TUNING_JOB_STATE_UNSPECIFIED":
        fields["tuningJobState"] = job.tuning_job_state
    meta = job.tuning_job_metadata
    if meta is not None:
        counters = {
            "completedEpochCount": meta.completed_epoch_count or None,
            "completedStepCount": meta.completed_step_count or None,
        }
        fields["tuningJobMetadata"] = {k: v for k, v in counters.items() if v is not None} or None
    return fields


def sub_state_phrase(sub_state: str | None, epochs_done: int | None, epochs: int | None) -> str:
    """`: waiting for quota (TUNING_JOB_STATE_WAITING_FOR_QUOTA); it starts when ...` or empty."""
    parts: list[str] = []
    # TUNING is what "running" already says; the others tell the user something.
    if sub_state and sub_state != TuningJobSubState.TUNING:
        words = _SUB_STATE_WORDS.get(sub_state, sub_state)
        text = f"{words} ({sub_state})" if words != sub_state else sub_state
        hint = _SUB_STATE_HINTS.get(sub_state)
        parts.append(f"{text}; {hint}" if hint else text)
    if epochs_done:
        parts.append(f"{epochs_done} of {epochs} epochs done" if epochs else f"{epochs_done} epochs done")
    return ": " + ", ".join(parts) if parts else ""


def dropped_status(stats: SupervisedTuningDataStats) -> JsonObject:
    """The dropped-example fields of status.tuningDataStats (nothing when Vertex AI dropped none)."""
    if not stats.total_truncated_example_count:
        return {}
    return {
        "totalTruncatedExampleCount": stats.total_truncated_example_count,
        "truncatedExampleIndices": stats.truncated_example_indices[:MAX_DROPPED_EXAMPLES_SHOWN] or None,
        "droppedExampleReasons": stats.dropped_example_reasons[:MAX_DROPPED_EXAMPLES_SHOWN] or None,
    }


def dropped_note(stats: JsonObject | None) -> str:
    """A sentence for the condition message about the examples left out, from status.tuningDataStats."""
    count = (stats or {}).get("totalTruncatedExampleCount")
    if not count:
        return ""
    total = (stats or {}).get("tuningDatasetExampleCount")
    of_total = f" of {total}" if total else ""
    indices = (stats or {}).get("truncatedExampleIndices") or []
    reasons = (stats or {}).get("droppedExampleReasons") or []
    first = ""
    if indices:
        why = f": {reasons[0]}" if reasons else ""
        first = f" (first: line {indices[0]}{why})"
    return f"Vertex AI left {count}{of_total} training examples out{first}; status.tuningDataStats lists them"


def dropped_event(
    old_stats: JsonObject | None, new_stats: JsonObject | None
) -> tuple[str, Reason, str] | None:
    """A Warning the first time a dropped count is seen (or when it changes): status remembers the count,
    so a later poll of the same job records nothing."""
    new_count = (new_stats or {}).get("totalTruncatedExampleCount")
    if not new_count or new_count == (old_stats or {}).get("totalTruncatedExampleCount"):
        return None
    return ("Warning", Reason.EXAMPLES_DROPPED, dropped_note(new_stats))
