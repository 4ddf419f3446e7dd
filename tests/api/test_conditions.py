"""Condition types, the documented reasons, and set_condition's transition-time rule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from controller.api import REASONS, ConditionType, Reason, find_condition, is_condition_true, set_condition

T0 = datetime(2026, 8, 1, 10, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)


def test_condition_types_are_the_four_documented_ones_and_spec_matched() -> None:
    assert [t.value for t in ConditionType] == ["Ready", "Reconciling", "Stalled", "Synced", "SpecMatched"]


def test_every_reason_is_camel_case_and_documented() -> None:
    assert set(REASONS) == set(Reason)
    for reason, doc in REASONS.items():
        assert re.fullmatch(r"[A-Z][A-Za-z]+", reason.value), reason
        assert doc.meaning.endswith("."), reason
        assert doc.action.endswith("."), reason
    for required in ("JobPending", "JobRunning", "JobSucceeded", "JobFailed", "JobCancelled", "JobExpired",
                     "Creating", "Deleting", "InvalidSpec", "PermissionDenied", "NotFound", "APIError",
                     "ReconcileSuccess", "SecretNotFound", "ConfigMapNotFound", "ModelActive", "ModelFailed",
                     "TestPromptsFailed"):  # fmt: skip
        assert Reason(required).value == required


def test_set_condition_adds_a_new_condition_with_now() -> None:
    conditions = set_condition(None, "Ready", "False", Reason.JOB_PENDING, "Queued.", 1, T0)
    assert len(conditions) == 1
    ready = conditions[0]
    assert (ready.type, ready.status, ready.reason, ready.message) == (
        "Ready",
        "False",
        "JobPending",
        "Queued.",
    )
    assert ready.observed_generation == 1
    assert ready.last_transition_time == T0


def test_same_status_keeps_transition_time_but_updates_the_rest() -> None:
    first = set_condition([], "Ready", "False", Reason.JOB_PENDING, "Queued.", 1, T0)
    second = set_condition(first, "Ready", "False", Reason.JOB_RUNNING, "Step 10 of 100.", 2, T1)
    ready = find_condition(second, "Ready")
    assert ready is not None
    assert ready.last_transition_time == T0
    assert (ready.reason, ready.message, ready.observed_generation) == ("JobRunning", "Step 10 of 100.", 2)
    # The input list is left untouched.
    assert first[0].reason == "JobPending"


def test_status_change_moves_transition_time() -> None:
    conditions = set_condition([], "Ready", "False", Reason.JOB_RUNNING, "Running.", 1, T0)
    conditions = set_condition(conditions, "Ready", "True", Reason.JOB_SUCCEEDED, "Done.", 1, T2)
    assert is_condition_true(conditions, "Ready")
    ready = find_condition(conditions, "Ready")
    assert ready is not None and ready.last_transition_time == T2


def test_other_conditions_keep_their_place() -> None:
    conditions = set_condition([], "Ready", "False", Reason.JOB_RUNNING, "Running.", 1, T0)
    conditions = set_condition(conditions, "Synced", "True", Reason.RECONCILE_SUCCESS, "", 1, T0)
    conditions = set_condition(conditions, "Ready", "True", Reason.JOB_SUCCEEDED, "Done.", 1, T1)
    assert [c.type for c in conditions] == ["Ready", "Synced"]
    synced = find_condition(conditions, "Synced")
    assert synced is not None and synced.last_transition_time == T0
    assert not is_condition_true(conditions, "Stalled")
    assert find_condition(conditions, "Stalled") is None
