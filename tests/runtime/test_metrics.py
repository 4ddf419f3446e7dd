"""Metrics: every catalogued metric is exposed, labels and values are right, per-resource series go away."""

from __future__ import annotations

import re

import pytest

from controller.runtime.metrics import METRICS, Metrics, catalogue_markdown
from controller.runtime.workqueue import WorkQueue


def value(metrics: Metrics, metric: str, /, **labels: str) -> float | None:
    result: float | None = metrics.registry.get_sample_value(metric, labels)
    return result


def test_every_catalogued_metric_is_exposed_with_its_help_text() -> None:
    text = Metrics().exposition().decode()
    for definition in METRICS:
        assert f"# HELP {definition.name} " in text, definition.name
        exposed_type = re.search(rf"^# TYPE {definition.name} (\w+)$", text, re.MULTILINE)
        assert exposed_type is not None, definition.name
        assert exposed_type.group(1) == definition.type


def test_catalogue_names_follow_prometheus_conventions() -> None:
    names = [d.name for d in METRICS]
    assert len(names) == len(set(names))
    for definition in METRICS:
        assert definition.name.startswith("vertexops_")
        assert definition.help.endswith("."), definition.name
        if definition.type == "counter":
            assert definition.name.endswith("_total"), definition.name
        if "duration" in definition.name or definition.name.endswith("_seconds"):
            assert definition.name.endswith("_seconds"), definition.name


def test_google_calls_are_counted_by_code_and_timed() -> None:
    metrics = Metrics()
    metrics.observe_google_call("vertex", "tuningJobs.get", 200, 0.12)
    metrics.observe_google_call("vertex", "tuningJobs.get", 200, 0.3)
    metrics.observe_google_call("vertex", "tuningJobs.get", 503, 1.0)
    metrics.observe_google_call("vertex", "tuningJobs.get", None, 30.0)
    labels = {"api": "vertex", "method": "tuningJobs.get"}
    assert value(metrics, "vertexops_google_api_requests_total", **labels, code="200") == 2
    assert value(metrics, "vertexops_google_api_requests_total", **labels, code="503") == 1
    assert value(metrics, "vertexops_google_api_requests_total", **labels, code="error") == 1
    assert value(metrics, "vertexops_google_api_request_duration_seconds_count", **labels) == 4
    assert value(metrics, "vertexops_google_api_request_duration_seconds_sum", **labels) == pytest.approx(
        31.42
    )


def test_a_resource_counts_in_exactly_one_state_and_vanishes_when_forgotten() -> None:
    metrics = Metrics()
    metrics.set_job_state("TuningJob", "ns", "a", "JOB_STATE_RUNNING")
    metrics.set_job_state("TuningJob", "ns", "b", "JOB_STATE_RUNNING")
    metrics.set_job_state("TunedModel", "ns", "a", "CREATING")
    assert value(metrics, "vertexops_jobs", kind="TuningJob", state="JOB_STATE_RUNNING") == 2

    metrics.set_job_state("TuningJob", "ns", "a", "JOB_STATE_SUCCEEDED")
    assert value(metrics, "vertexops_jobs", kind="TuningJob", state="JOB_STATE_RUNNING") == 1
    assert value(metrics, "vertexops_jobs", kind="TuningJob", state="JOB_STATE_SUCCEEDED") == 1

    metrics.set_losses("TuningJob", "ns", "a", train=0.42, validation=None)
    assert value(metrics, "vertexops_tuning_train_loss", kind="TuningJob", namespace="ns", name="a") == 0.42
    assert (
        value(metrics, "vertexops_tuning_validation_loss", kind="TuningJob", namespace="ns", name="a") is None
    )

    metrics.forget_resource("TuningJob", "ns", "a")
    assert value(metrics, "vertexops_jobs", kind="TuningJob", state="JOB_STATE_SUCCEEDED") is None
    assert value(metrics, "vertexops_tuning_train_loss", kind="TuningJob", namespace="ns", name="a") is None
    # Same namespace/name of another kind is untouched.
    assert value(metrics, "vertexops_jobs", kind="TunedModel", state="CREATING") == 1


def test_queue_gauges_are_read_from_the_queue_at_scrape_time() -> None:
    metrics = Metrics()
    queue: WorkQueue[str] = WorkQueue(name="Widget", observer=metrics.queue_observer("Widget"))
    metrics.register_queue("Widget", queue)
    for key in ("a", "b", "c", "a"):
        queue.add(key)
    assert value(metrics, "vertexops_workqueue_depth", name="Widget") == 3
    assert value(metrics, "vertexops_workqueue_adds_total", name="Widget") == 3
    taken = queue.get(timeout=0)
    assert taken == "a"
    assert value(metrics, "vertexops_workqueue_depth", name="Widget") == 2
    longest = value(metrics, "vertexops_workqueue_longest_running_processor_seconds", name="Widget")
    assert longest is not None
    assert longest >= 0
    queue.add_rate_limited("a")
    queue.done("a")
    assert value(metrics, "vertexops_workqueue_retries_total", name="Widget") == 1
    assert value(metrics, "vertexops_workqueue_work_duration_seconds_count", name="Widget") == 1
    assert value(metrics, "vertexops_workqueue_longest_running_processor_seconds", name="Widget") == 0


def test_two_metrics_objects_do_not_share_values() -> None:
    first, second = Metrics(), Metrics()
    first.observe_reconcile("Widget", "success", 0.1)
    first.set_leading(True)
    assert value(first, "vertexops_reconcile_total", kind="Widget", result="success") == 1
    assert value(second, "vertexops_reconcile_total", kind="Widget", result="success") is None
    assert value(first, "vertexops_leader_election_leading") == 1
    assert value(second, "vertexops_leader_election_leading") == 0


def test_the_markdown_catalogue_lists_every_metric_once() -> None:
    table = catalogue_markdown()
    for definition in METRICS:
        assert table.count(f"| `{definition.name}` |") == 1
    assert len(table.strip().splitlines()) == len(METRICS) + 2
