"""A TuningJob's whole life on a real API server, the operator in its own process, the emulator as Vertex AI.

Create exactly once, follow, report, publish, test, fail, cancel, orphan, poll cheaply, fail over.
"""

from __future__ import annotations

import re
import time

from controller.api.tuningjob import TuningJob
from controller.external import intent_time
from controller.google.vertex import VertexClient
from controller.testenv.controlplane import ControlPlane
from controller.testenv.google_credentials import inspector_auth
from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuning_job, wait_until_fired
from emulator.server import Emulator

UID_LABEL = "vertexops-uid"


def _jobs_for(emulator: Emulator, uid: str) -> list[object]:
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        return client.find_tuning_jobs_by_labels("vertexops-test", "us-central1", {UID_LABEL: uid})


def test_tuning_job_goes_from_apply_to_ready_with_everything_in_status(
    crds: ControlPlane,
    namespace: str,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    operator = start_operator()
    manifest = tuning_job(
        "support-bot",
        testPrompts=[
            {"prompt": "How do I reset my password?"},
            {"prompt": "Summarise our refund policy.", "generationConfig": {"temperature": 0.2}},
        ],
        publish={"configMapName": "support-bot-model"},
    )
    created = resources.create(manifest)

    waited = crds.kubectl(
        "wait",
        "--for=condition=Ready",
        "tuningjob/support-bot",
        "-n",
        namespace,
        "--timeout=120s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr

    obj = resources.get("support-bot")
    assert obj is not None
    status = obj["status"]
    assert status["state"] == "JOB_STATE_SUCCEEDED"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert re.fullmatch(r"projects/\d+/locations/us-central1/tuningJobs/\d+", status["name"])
    assert status["consoleURL"].startswith("https://console.cloud.google.com/")
    assert re.fullmatch(r"projects/\d+/locations/us-central1/models/\d+@1", status["tunedModel"]["model"])
    assert re.fullmatch(r"projects/\d+/locations/us-central1/endpoints/\d+", status["tunedModel"]["endpoint"])
    assert status["tuningDataStats"]["tuningStepCount"] > 0
    metrics = status["latestMetrics"]
    assert metrics["step"] > 0 and metrics["trainTotalLoss"] > 0 and metrics["evalTotalLoss"] > 0
    assert 0 < metrics["trainTokenAccuracy"] <= 1
    assert status["progress"] == "100%"
    assert [r["prompt"] for r in status["testPromptResults"]] == [
        "How do I reset my password?",
        "Summarise our refund policy.",
    ]
    assert all(r.get("responseText") and not r.get("error") for r in status["testPromptResults"])
    for type_, expected in (
        ("Ready", "True"),
        ("Reconciling", "False"),
        ("Stalled", "False"),
        ("Synced", "True"),
    ):
        found = condition(obj, type_)
        assert found is not None and found["status"] == expected, (type_, found)
    assert condition(obj, "Ready")["reason"] == "JobSucceeded"  # type: ignore[index]

    # The status is valid against our own model (what the CRD schema is generated from).
    TuningJob.model_validate(obj)

    # The published ConfigMap is owned by the resource and holds the names other workloads need.
    config_map = resources.core.read_namespaced_config_map("support-bot-model", namespace)
    assert config_map.data == {
        "tuningJob": status["name"],
        "model": status["tunedModel"]["model"],
        "endpoint": status["tunedModel"]["endpoint"],
    }
    assert config_map.metadata.owner_references[0].uid == created["metadata"]["uid"]

    # Exactly one paid job, labelled with the resource's UID.
    assert emulator.count("tuningJobs.create") == 1
    assert len(_jobs_for(emulator, created["metadata"]["uid"])) == 1
    # The model answered through its endpoint.
    assert emulator.count("endpoints.generateContent") == 2

    # Prometheus sees the state and the latest losses of this resource.
    labels = f'{{kind="TuningJob",name="support-bot",namespace="{namespace}"}}'
    scraped = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in operator.metrics().splitlines()
        if line and not line.startswith("#")
    }
    assert scraped[f"vertexops_tuning_train_loss{labels}"] == metrics["trainTotalLoss"]
    assert scraped[f"vertexops_tuning_validation_loss{labels}"] == metrics["evalTotalLoss"]

    reasons = [e["reason"] for e in resources.events("support-bot")]
    assert "Created" in reasons and "JobSucceeded" in reasons and "Published" in reasons


def test_failed_job_is_stalled_with_the_error_in_status_and_an_event(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    emulator.fail_jobs(
        display_name="doomed*", at_fraction=0.5, message="Tuning failed: dataset row 7 is invalid."
    )
    start_operator()
    resources.create(tuning_job("doomed-run"))

    obj = resources.wait_for("doomed-run", lambda o: is_true(o, "Stalled"), what="Stalled=True")
    assert obj["status"]["state"] == "JOB_STATE_FAILED"
    assert obj["status"]["error"]["message"] == "Tuning failed: dataset row 7 is invalid."
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert condition(obj, "Stalled")["reason"] == "JobFailed"  # type: ignore[index]
    assert "dataset row 7" in condition(obj, "Stalled")["message"]  # type: ignore[index]
    assert condition(obj, "Reconciling")["status"] == "False"  # type: ignore[index]

    deadline = time.monotonic() + 30
    while not any(
        e["reason"] == "JobFailed" and e["type"] == "Warning" for e in resources.events("doomed-run")
    ):
        assert time.monotonic() < deadline, resources.events("doomed-run")
        time.sleep(0.2)


def test_operator_killed_after_the_create_call_creates_no_second_job(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    # The create call reaches Vertex but its answer is held back; the operator dies before it arrives, so
    # it never learns the job's name. That is the worst moment: the job exists and status does not say so.
    held = emulator.add_fault("latency", "tuningJobs.create", latency_seconds=2.0, times=1)
    first = start_operator()
    created = resources.create(tuning_job("crash-once"))
    uid = created["metadata"]["uid"]

    resources.wait_for("crash-once", lambda o: bool(intent_time(o)), what="create intent recorded")
    wait_until_fired(held, "the create call")
    first.kill()
    deadline = time.monotonic() + 15
    while not _jobs_for(emulator, uid):  # the held-back create completes on the Vertex side
        assert time.monotonic() < deadline, "the create call never reached the emulator"
        time.sleep(0.1)
    assert not (resources.get("crash-once") or {}).get("status", {}).get("name")

    start_operator()
    obj = resources.wait_for("crash-once", lambda o: is_true(o, "Ready"), what="Ready=True")
    assert emulator.count("tuningJobs.create") == 1
    jobs = _jobs_for(emulator, uid)
    assert len(jobs) == 1
    assert obj["status"]["name"] == jobs[0].name  # type: ignore[attr-defined]


def _running(emulator: Emulator, resources: Resources, name: str) -> dict[str, object]:
    resources.wait_for(name, lambda o: bool((o.get("status") or {}).get("name")), what="job created")
    emulator.advance(61)  # past the pending phase; at time scale 1 the job then runs for minutes
    return resources.wait_for(
        name, lambda o: (o.get("status") or {}).get("state") == "JOB_STATE_RUNNING", what="RUNNING"
    )


def test_deleting_a_running_job_cancels_it_before_the_finalizer_goes(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    emulator.set_time_scale(1)
    start_operator()
    resources.create(tuning_job("cancel-me"))
    obj = _running(emulator, resources, "cancel-me")
    job_name = obj["status"]["name"]  # type: ignore[index]

    resources.delete("cancel-me")
    resources.wait_for(
        "cancel-me",
        lambda o: (o.get("status") or {}).get("state") == "JOB_STATE_CANCELLING",
        what="CANCELLING",
    )
    assert resources.get("cancel-me") is not None, "the finalizer must hold until the job has stopped"
    emulator.advance(11)  # the cancellation completes
    resources.wait_gone("cancel-me")
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        assert client.get_tuning_job(job_name).state == "JOB_STATE_CANCELLED"
    assert emulator.count("tuningJobs.cancel") == 1  # one cancel, not one per reconcile while it stops


def test_orphan_policy_leaves_the_job_running(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    emulator.set_time_scale(1)
    start_operator()
    resources.create(tuning_job("keep-me", deletionPolicy="Orphan"))
    obj = _running(emulator, resources, "keep-me")

    resources.delete("keep-me")
    resources.wait_gone("keep-me")
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        assert client.get_tuning_job(obj["status"]["name"]).state == "JOB_STATE_RUNNING"  # type: ignore[index]
    assert emulator.count("tuningJobs.cancel") == 0


def test_deleting_a_finished_job_never_cancels_it(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    start_operator()
    resources.create(tuning_job("done-already"))
    resources.wait_for("done-already", lambda o: is_true(o, "Ready"), what="Ready=True")
    resources.delete("done-already")
    resources.wait_gone("done-already")
    assert emulator.count("tuningJobs.cancel") == 0


def test_fifty_running_jobs_are_followed_with_list_calls_not_gets(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    emulator.set_time_scale(1)
    operator = start_operator("--metrics-interval-seconds=3600")
    names = [f"batch-{i:02d}" for i in range(50)]
    for name in names:
        resources.create(tuning_job(name))
    for name in names:
        resources.wait_for(name, lambda o: bool((o.get("status") or {}).get("name")), what="job created")
    emulator.advance(61)
    for name in names:
        resources.wait_for(
            name, lambda o: (o.get("status") or {}).get("state") == "JOB_STATE_RUNNING", what="RUNNING"
        )

    emulator.clear_requests()
    # Every running job is reconciled about once a second; let each be refreshed three more times.
    start = _reconciles(operator)
    deadline = time.monotonic() + 60
    while _reconciles(operator) < start + 3 * len(names):
        assert time.monotonic() < deadline, f"only {_reconciles(operator) - start} reconciles"
        time.sleep(0.2)

    lists, gets = emulator.count("tuningJobs.list"), emulator.count("tuningJobs.get")
    assert gets == 0, f"{gets} per-job gets: jobs should be refreshed from the location's list"
    assert 0 < lists < len(names), f"{lists} list calls for {len(names)} jobs refreshed three times each"


def test_only_the_leader_reconciles_and_the_other_replica_takes_over(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    election = ("--lease-duration-seconds=4", "--renew-deadline-seconds=3", "--retry-period-seconds=0.5")
    emulator.set_time_scale(1)
    first = start_operator(*election, leader_election=True)
    _wait_metric(first, "vertexops_leader_election_leading", 1.0)
    second = start_operator(*election, leader_election=True)

    resources.create(tuning_job("failover-a"))
    resources.create(tuning_job("failover-b"))
    _running(emulator, resources, "failover-a")
    _running(emulator, resources, "failover-b")
    assert _metric(second, "vertexops_leader_election_leading") == 0.0
    assert _reconciles(second) == 0, "the follower must not reconcile"
    assert _reconciles(first) > 0

    first.kill()
    _wait_metric(second, "vertexops_leader_election_leading", 1.0, timeout=30)
    emulator.set_time_scale(100)  # let the jobs finish
    for name in ("failover-a", "failover-b"):
        resources.wait_for(name, lambda o: is_true(o, "Ready"), what="Ready=True")
    assert _reconciles(second) > 0
    assert emulator.count("tuningJobs.create") == 2


def _metric(proc: object, name: str) -> float:
    text = proc.metrics()  # type: ignore[attr-defined]
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else 0.0


def _reconciles(proc: object) -> float:
    return _metric(proc, "vertexops_reconcile_total")


def _wait_metric(proc: object, name: str, value: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _metric(proc, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.2)


def test_test_prompts_rerun_on_any_change_and_status_keeps_them_short(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    start_operator()
    long_prompt = (
        "Summarise this ticket: " + "the printer is jammed again " * 290
    )  # just under the 8192 limit
    resources.create(tuning_job("prompt-limits", testPrompts=[{"prompt": long_prompt}]))
    obj = resources.wait_for(
        "prompt-limits",
        lambda o: bool((o.get("status") or {}).get("testPromptResults")),
        what="prompt answered",
    )
    (result,) = obj["status"]["testPromptResults"]
    assert len(long_prompt) > 8000 and len(result["prompt"]) == 256 and result["prompt"].endswith("…")
    assert len(result["responseText"]) <= 4096 and not result.get("error")
    first_digest = result["promptDigest"]
    assert emulator.count("endpoints.generateContent") == 1

    # Only the sampling settings change: the prompt runs again.
    resources.patch(
        "prompt-limits",
        {"spec": {"testPrompts": [{"prompt": long_prompt, "generationConfig": {"temperature": 0.5}}]}},
    )
    obj = resources.wait_for(
        "prompt-limits",
        lambda o: (o["status"].get("testPromptResults") or [{}])[0].get("promptDigest") != first_digest,
        what="prompt answered again",
    )
    assert emulator.count("endpoints.generateContent") == 2
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 2


def test_every_metrics_read_reaches_prometheus_but_status_is_written_only_when_due(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    """With --metrics-status-seconds far above the job's run: the first values are written, later reads move
    the loss gauge without writing status (no etcd revision per read), and the final read is written."""
    emulator.set_time_scale(1)
    operator = start_operator("--metrics-status-seconds=3600")
    resources.create(tuning_job("quiet-metrics"))
    _running(emulator, resources, "quiet-metrics")
    emulator.advance(25)  # five of twenty steps: training and evaluation points exist
    first = resources.wait_for(
        "quiet-metrics",
        lambda o: bool(((o.get("status") or {}).get("latestMetrics") or {}).get("evalTotalLoss")),
        what="the first metrics in status",
    )
    written = first["status"]["latestMetrics"]  # type: ignore[index]

    def gauge() -> float:
        return _metric(operator, "vertexops_tuning_train_loss")

    emulator.advance(50)  # fifteen of twenty steps; still running
    deadline = time.monotonic() + 30
    while gauge() == written["trainTotalLoss"]:
        assert time.monotonic() < deadline, "the loss gauge never moved on"
        time.sleep(0.2)
    later = resources.get("quiet-metrics")
    assert later is not None and later["status"]["state"] == "JOB_STATE_RUNNING"
    assert later["status"]["latestMetrics"] == written, "a read not due rewrote status"

    emulator.advance(60)
    done = resources.wait_for("quiet-metrics", lambda o: is_true(o, "Ready"), what="Ready=True")
    final = done["status"]["latestMetrics"]
    assert final["step"] == 20 and final["readTime"] > written["readTime"], final
    assert done["status"]["progress"] == "100%"
