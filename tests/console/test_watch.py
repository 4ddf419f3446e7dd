"""`vertexops watch`: curves drawn from the job's real TensorBoard metrics, and plain lines when live."""

from __future__ import annotations

import itertools
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable

from console_support import TIME_SCALE, Console, sample

from controller.google.models_vertex import EVAL_TOTAL_LOSS, TRAIN_TOTAL_LOSS
from controller.google.vertex import VertexClient
from controller.testenv.google_credentials import inspector_auth

BRAILLE = re.compile("[\u2801-\u28ff]")


def test_watch_once_draws_the_curves_of_the_metrics_vertex_holds(console: Console) -> None:
    result = console.run("watch", "tj/support-assistant", "--once")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "tuningjob/support-assistant  JOB_STATE_SUCCEEDED (JobSucceeded)"
    assert "100%  step 60/60" in lines[1]
    assert any(line.strip().endswith("│") or "loss" in line for line in lines)
    assert len([line for line in lines if BRAILLE.search(line)]) >= 6, "no curve drawn"

    with VertexClient(base_url=console.emulator.url, auth=inspector_auth(console.emulator)) as vertex:
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
    """The emulator's clock is held still, then moved by hand: the job is seen running, then ending."""
    job = sample("tuningjob.yaml")
    job["metadata"]["name"] = "watched"
    job["spec"].pop("publish")
    job["spec"].pop("testPrompts")
    console.emulator.set_time_scale(0.0)
    try:
        console.create("tuningjobs", job)
        proc = subprocess.Popen(
            console.argv("watch", "tj/watched", "--interval=0.3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=console.env(),
        )
        assert proc.stdout is not None
        lines = [_next_line(proc)]
        _wait_for(lambda: (console.get("tuningjobs", "watched").get("status") or {}).get("state"))
        console.emulator.advance(30 + 20 * 20)  # out of PENDING, 20 of 60 steps done
        while not ("JOB_STATE_RUNNING (JobRunning)" in lines[-1] and "train_loss=" in lines[-1]):
            lines.append(_next_line(proc))
        console.emulator.advance(20 * 60)  # to the end
        rest, err = proc.communicate(timeout=120)
        lines += rest.splitlines()
    finally:
        console.emulator.set_time_scale(TIME_SCALE)
    assert proc.returncode == 0, err
    assert all(line.startswith("tuningjob/watched ") for line in lines), lines
    running = next(line for line in lines if "JOB_STATE_RUNNING" in line and "train_loss=" in line)
    assert re.search(r" \d+%  step \d+/60  ETA \d+m \d+s train_loss=\d\.\d{4} ", running), running
    assert lines[-1].startswith("tuningjob/watched JOB_STATE_SUCCEEDED"), lines
    assert " 100%  step 60/60 " in lines[-1]
    assert "\x1b[" not in "".join(lines), "escape sequences in output that is not a terminal"
    assert all(a != b for a, b in itertools.pairwise(lines)), "a line was repeated although nothing changed"


def _next_line(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "watch printed nothing new"
    line = proc.stdout.readline()
    assert line, f"watch ended early: {proc.stderr.read() if proc.stderr else ''}"
    return line.rstrip("\n")


def _wait_for(condition: Callable[[], object], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


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


def test_on_a_terminal_live_watch_draws_the_frame_not_plain_lines(console: Console) -> None:
    """With a terminal on stdout the frame (curves and all) is drawn; the job has ended, so it stops."""
    controller_fd, terminal_fd = pty.openpty()
    try:
        proc = subprocess.Popen(
            console.argv("watch", "tj/support-assistant", "--interval=0.3"),
            stdout=terminal_fd,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=console.env(),
        )
        os.close(terminal_fd)
        output = b""
        while True:
            ready, _, _ = select.select([controller_fd], [], [], 120)
            assert ready, "nothing drawn"
            try:
                data = os.read(controller_fd, 65536)
            except OSError:  # the terminal's other end closed: the command exited
                break
            if not data:
                break
            output += data
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(controller_fd)
    text = output.decode()
    assert text.startswith("tuningjob/support-assistant  JOB_STATE_SUCCEEDED (JobSucceeded)")
    assert "loss │" in text and "accuracy │" in text and BRAILLE.search(text)
    assert "(refreshed " in text and "Ctrl-C stops watching, the job goes on" in text


def test_watch_of_a_preference_job_counts_steps_from_its_own_statistics(console: Console) -> None:
    job = sample("tuningjob.yaml")
    job["metadata"]["name"] = "preferred"
    job["spec"].pop("publish")
    job["spec"].pop("testPrompts")
    supervised = job["spec"].pop("supervisedTuningSpec")
    job["spec"]["preferenceOptimizationSpec"] = {
        "trainingDatasetUri": supervised["trainingDatasetUri"],
        "hyperParameters": {"epochCount": 2, "beta": 0.1},
    }
    job["spec"]["preflight"] = {"mode": "Skip"}
    console.create("tuningjobs", job)
    total = console.wait_ready("tuningjobs", "preferred")["status"]["preferenceOptimizationDataStats"][
        "tuningStepCount"
    ]
    result = console.run("watch", "tj/preferred", "--once")
    assert result.returncode == 0, result.stderr
    assert f"100%  step {total}/{total}" in result.stdout.splitlines()[1]
