"""What a user sees at `kubectl apply` time, on a real kube-apiserver with the generated CRDs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from controller.testenv.controlplane import ControlPlane

from .cases import IMMUTABLE, INVALID, MUTABLE, Immutable, Invalid, tuned_model, tuning_job
from .kube import kubectl_apply

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "manifests" / "examples").glob("*.yaml"))


def test_there_are_examples_of_both_kinds() -> None:
    text = "".join(path.read_text() for path in EXAMPLES)
    assert len(EXAMPLES) >= 5
    assert "kind: TuningJob" in text
    assert "kind: TunedModel" in text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_accepted(crds: ControlPlane, namespace: str, path: Path) -> None:
    result = kubectl_apply(crds, namespace, path.read_text())
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) + len(IMMUTABLE) >= 30
    assert len({case.id for case in INVALID + IMMUTABLE}) == len(INVALID) + len(IMMUTABLE)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_naming_the_field(
    crds: ControlPlane, namespace: str, case: Invalid
) -> None:
    result = kubectl_apply(crds, namespace, case.manifest())
    assert result.returncode != 0, f"accepted: {result.stdout}"
    for words in case.expect:
        assert words in result.stderr
    # Nothing was stored.
    listing = crds.kubectl("get", "tuningjobs,tunedmodels", "-n", namespace, "-o", "name")
    assert listing.stdout.strip() == ""


@pytest.mark.parametrize("case", IMMUTABLE, ids=lambda c: c.id)
def test_change_to_immutable_field_is_rejected(crds: ControlPlane, namespace: str, case: Immutable) -> None:
    first, second = case.manifests()
    created = kubectl_apply(crds, namespace, first)
    assert created.returncode == 0, created.stderr
    changed = kubectl_apply(crds, namespace, second)
    assert changed.returncode != 0, f"accepted: {changed.stdout}"
    for words in case.expect:
        assert words in changed.stderr


@pytest.mark.parametrize(("name", "base", "change"), MUTABLE, ids=[m[0] for m in MUTABLE])
def test_operator_and_patchable_fields_stay_mutable(
    crds: ControlPlane, namespace: str, name: str, base: object, change: object
) -> None:
    assert callable(base) and callable(change)
    manifest = base(name)
    assert kubectl_apply(crds, namespace, manifest).returncode == 0
    change(manifest)
    result = kubectl_apply(crds, namespace, manifest)
    assert result.returncode == 0, result.stderr
    assert "configured" in result.stdout


def _explain(control_plane: ControlPlane, field: str) -> str:
    """`kubectl explain` needs the CRD's OpenAPI published, which lags Established by a moment: poll."""
    deadline = time.monotonic() + 60
    while True:
        result = control_plane.kubectl("explain", field, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stderr
            return result.stdout
        time.sleep(0.5)


def test_kubectl_explain_shows_descriptions(crds: ControlPlane) -> None:
    text = _explain(crds, "tuningjob.spec.supervisedTuningSpec")
    assert "Training data and settings for supervised fine-tuning" in text
    assert "trainingDatasetUri" in text
    assert "Cloud Storage URI" in text
    assert "hyperParameters" in text
    hyper = _explain(crds, "tunedmodel.spec.tuningTask.hyperparameters.learningRate")
    assert "Exclusive with learningRateMultiplier" in hyper


def test_short_names_category_and_printer_columns(crds: ControlPlane, namespace: str) -> None:
    assert kubectl_apply(crds, namespace, tuning_job("columns-job")).returncode == 0
    assert kubectl_apply(crds, namespace, tuned_model("columns-model")).returncode == 0
    listing = crds.kubectl("get", "vertexops", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listing) == [
        "tunedmodel.tuning.vertexops.dev/columns-model",
        "tuningjob.tuning.vertexops.dev/columns-job",
    ]
    status = {
        "state": "JOB_STATE_RUNNING",
        "tuningJobState": "TUNING_JOB_STATE_TUNING",
        "progress": "40%",
        "latestMetrics": {"trainTotalLoss": 0.25},
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "JobRunning",
                "message": "The job is running.",
                "lastTransitionTime": "2026-08-01T10:00:00Z",
            }
        ],
    }
    crds.kubectl(
        "patch", "tj", "columns-job", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    wide = crds.kubectl("get", "tj", "-n", namespace, "-o", "wide").stdout
    header, row = wide.splitlines()
    assert header.split() == ["NAME", "STATE", "SUB-STATE", "READY", "PROGRESS", "LOSS", "ENDPOINT", "AGE"]
    assert row.split()[:6] == [
        "columns-job",
        "JOB_STATE_RUNNING",
        "TUNING_JOB_STATE_TUNING",
        "False",
        "40%",
        "0.25",
    ]
    models = crds.kubectl("get", "tm", "-n", namespace).stdout
    assert models.splitlines()[0].split() == ["NAME", "STATE", "READY", "PROGRESS", "AGE"]
