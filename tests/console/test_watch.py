"""`vertexops watch`: curves drawn from the job's real TensorBoard metrics, and plain lines when live."""

from __future__ import annotations

import re

from console_support import Console, sample

from controller.google.models_vertex import EVAL_TOTAL_LOSS, TRAIN_TOTAL_LOSS
from controller.google.vertex import VertexClient

BRAILLE = re.compile("[\u2801-\u28ff]")


def test_watch_once_draws_the_curves_of_the_metrics_vertex_holds(console: Console) -> None:
    result = console.run("watch", "tj/support-assistant", "--once")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "tuningjob/support-assistant  JOB_STATE_SUCCEEDED (JobSucceeded)"
    assert "100%  step 60/60" in lines[1]
    assert any(line.strip().endswith("│") or "loss" in line for line in lines)
    assert len([line for line in lines if BRAILLE.search(line)]) >= 6, "no curve drawn"

    with VertexClient(base_url=console.emulator.url) as vertex:
        job = console.get("tuningjobs", "support-assistant")["status"]["name"]
        latest = vertex.read_tuning_metrics(job).latest
    train, evaluation = latest[TRAIN_TOTAL_LOSS].value, latest[EVAL_TOTAL_LOSS].value
    assert f"⣀ training {train:.3f}   • validation {evaluation:.3f}" in result.stdout
    # Status holds only the latest values; the curve's many points came from Vertex.
    status = console.get("tuningjobs", "support-assistant")["status"]
    assert status["latestMetrics"]["trainTotalLoss"] == train
    assert "\x1b[" not in result.stdout, "escape sequences in output that is not a terminal"


def test_watch_once_of_a_tuned_model_draws_its_loss_snapshots(console: Console) -> None:
    result = console.run("watch", "tunedmodel/product-one-liners", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tunedmodel/product-one-liners  ACTIVE (ModelActive)\n")
    assert "⣀ training" in result.stdout
    assert BRAILLE.search(result.stdout)


def test_live_watch_prints_plain_lines_until_the_job_ends(console: Console) -> None:
    job = sample("tuningjob.yaml")
    job["metadata"]["name"] = "watched"
    job["spec"].pop("publish")
    job["spec"].pop("testPrompts")
    console.create("tuningjobs", job)
    result = console.run("watch", "tj/watched", "--interval=0.3", timeout=180)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("tuningjob/watched ") for line in lines), lines
    assert "\x1b[" not in result.stdout
    assert any("JOB_STATE_RUNNING (JobRunning)" in line and "train_loss=" in line for line in lines), lines
    assert lines[-1].startswith("tuningjob/watched JOB_STATE_SUCCEEDED")
    assert " 100%  step 60/60 " in lines[-1]
    assert len(lines) == len(set(lines)), "a line was repeated although nothing changed"


def test_watch_of_an_unknown_resource_is_one_line(console: Console) -> None:
    result = console.run("watch", "tj/nope", "--once")
    assert result.returncode == 1
    assert result.stderr == f'error: tuningjob "nope" not found in namespace {console.namespace}\n'


def test_watch_when_vertex_refuses_the_metrics(console: Console) -> None:
    rule = console.emulator.add_fault("permission_denied", "contexts.get")
    try:
        result = console.run("watch", "tj/support-assistant", "--once")
    finally:
        console.emulator.remove_fault(rule.id)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Permission 'aiplatform.contexts.get' denied" in result.stderr
    assert result.stdout.startswith("tuningjob/support-assistant  JOB_STATE_SUCCEEDED")
