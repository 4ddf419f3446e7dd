"""Two tenants and the escapes a tenant's job may try, shared by the Python and the API server tests.

Each escape names the rule it breaks and the message both the operator and the admission policy give, so
the two enforcement points are held to one text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from controller.tenancy.rules import Where

JsonObject = dict[str, Any]

TEAM_A_SA = "team-a@proj-team-a.iam.gserviceaccount.com"
TEAM_B_SA = "team-b@proj-team-b.iam.gserviceaccount.com"
TEAM_A_TRAINER = "trainer@proj-team-a.iam.gserviceaccount.com"
TEAM_A_DATASETS = "projects/proj-team-a/locations/us-central1/datasets/"


def tenant_a(name: str = "team-a", namespaces: list[str] | None = None) -> JsonObject:
    return {
        "apiVersion": "tuning.vertexops.dev/v1alpha1",
        "kind": "TuningTenant",
        "metadata": {"name": name},
        "spec": {
            "namespaces": {"names": namespaces or ["team-a"]},
            "googleServiceAccount": TEAM_A_SA,
            "projects": ["proj-team-a"],
            "locations": ["us-central1", "europe-west4"],
            "jobServiceAccounts": [TEAM_A_TRAINER],
            "datasetURIPrefixes": ["gs://team-a-data/tuning/", TEAM_A_DATASETS],
            "baseModels": ["gemini-2.5-flash"],
            "limits": {"maxEpochs": 5},
        },
    }


def tenant_b(name: str = "team-b", label: str = "b") -> JsonObject:
    """Selected by label, with matchExpressions as well, to exercise both selector forms."""
    return {
        "apiVersion": "tuning.vertexops.dev/v1alpha1",
        "kind": "TuningTenant",
        "metadata": {"name": name},
        "spec": {
            "namespaces": {
                "selector": {
                    "matchLabels": {"tenancy.example.com/team": label},
                    "matchExpressions": [{"key": "tenancy.example.com/frozen", "operator": "DoesNotExist"}],
                }
            },
            "googleServiceAccount": TEAM_B_SA,
            "projects": ["proj-team-b"],
            "datasetURIPrefixes": ["gs://team-b-data/"],
        },
    }


def job(namespace: str, name: str = "tune", **spec: Any) -> JsonObject:
    body: JsonObject = {
        "projectID": "proj-team-a",
        "location": "us-central1",
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://team-a-data/tuning/train.jsonl",
            "hyperParameters": {"epochCount": 3},
        },
    }
    body.update(spec)
    return {
        "apiVersion": "tuning.vertexops.dev/v1alpha1",
        "kind": "TuningJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


FOREIGN_DATASET = "projects/proj-team-b/locations/us-central1/datasets/7"


@dataclass(frozen=True)
class Escape:
    id: str
    rule: str
    field: str
    changes: JsonObject  # merged into spec (supervisedTuningSpec merged one level deeper)

    def apply_to(self, obj: JsonObject) -> JsonObject:
        result = copy.deepcopy(obj)
        spec = result["spec"]
        for key, value in self.changes.items():
            if value is None:
                spec.pop(key, None)
            elif key == "supervisedTuningSpec":
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        return result


ESCAPES: tuple[Escape, ...] = (
    Escape("other-tenants-project", "projects", "spec.projectID", {"projectID": "proj-team-b"}),
    Escape("location-not-allowed", "locations", "spec.location", {"location": "asia-east1"}),
    Escape(
        "import-from-another-project",
        "projects",
        "spec.jobName",
        {
            "jobName": "projects/proj-team-b/locations/us-central1/tuningJobs/4982013113894174720",
            "projectID": None,
            "location": None,
            "baseModel": None,
            "supervisedTuningSpec": None,
        },
    ),
    Escape(
        "foreign-bucket",
        "datasetURIPrefixes",
        "spec.supervisedTuningSpec.trainingDatasetUri",
        {"supervisedTuningSpec": {"trainingDatasetUri": "gs://team-b-data/private/train.jsonl"}},
    ),
    Escape(
        "bucket-name-prefix-is-not-the-bucket",
        "datasetURIPrefixes",
        "spec.supervisedTuningSpec.trainingDatasetUri",
        {"supervisedTuningSpec": {"trainingDatasetUri": "gs://team-a-data-other/tuning/train.jsonl"}},
    ),
    Escape(
        "foreign-validation-data",
        "datasetURIPrefixes",
        "spec.supervisedTuningSpec.validationDatasetUri",
        {"supervisedTuningSpec": {"validationDatasetUri": "gs://team-b-data/val.jsonl"}},
    ),
    Escape(
        "service-account-not-allowed",
        "jobServiceAccounts",
        "spec.serviceAccount",
        {"serviceAccount": "owner@proj-team-a.iam.gserviceaccount.com"},
    ),
    Escape("base-model-not-allowed", "baseModels", "spec.baseModel", {"baseModel": "gemini-2.5-pro"}),
    Escape(
        "foreign-bucket-for-preference-tuning",
        "datasetURIPrefixes",
        "spec.preferenceOptimizationSpec.trainingDatasetUri",
        {
            "supervisedTuningSpec": None,
            "preferenceOptimizationSpec": {
                "trainingDatasetUri": "gs://team-b-data/private/preferences.jsonl",
                "hyperParameters": {"epochCount": 2},
            },
        },
    ),
    Escape(
        "foreign-preference-validation-data",
        "datasetURIPrefixes",
        "spec.preferenceOptimizationSpec.validationDatasetUri",
        {
            "supervisedTuningSpec": None,
            "preferenceOptimizationSpec": {
                "trainingDatasetUri": "gs://team-a-data/tuning/preferences.jsonl",
                "validationDatasetUri": "gs://team-b-data/val.jsonl",
                "hyperParameters": {"epochCount": 2},
            },
        },
    ),
    Escape(
        "too-many-preference-epochs",
        "limits.maxEpochs",
        "spec.preferenceOptimizationSpec.hyperParameters.epochCount",
        {
            "supervisedTuningSpec": None,
            "preferenceOptimizationSpec": {
                "trainingDatasetUri": "gs://team-a-data/tuning/preferences.jsonl",
                "hyperParameters": {"epochCount": 9, "beta": 0.1},
            },
        },
    ),
    Escape(
        "foreign-multimodal-dataset",
        "datasetURIPrefixes",
        "spec.supervisedTuningSpec.trainingDatasetUri",
        {"supervisedTuningSpec": {"trainingDatasetUri": FOREIGN_DATASET}},
    ),
    Escape(
        "tune-on-from-another-projects-model",
        "projects",
        "spec.preTunedModel.tunedModelName",
        {
            "baseModel": None,
            "preTunedModel": {"tunedModelName": "projects/proj-team-b/locations/us-central1/models/42@1"},
        },
    ),
    Escape(
        "tune-on-from-a-model-in-a-location-not-allowed",
        "projects",
        "spec.preTunedModel.tunedModelName",
        {
            "baseModel": None,
            "preTunedModel": {"tunedModelName": "projects/proj-team-a/locations/asia-east1/models/42@1"},
        },
    ),
    Escape(
        "too-many-epochs",
        "limits.maxEpochs",
        "spec.supervisedTuningSpec.hyperParameters.epochCount",
        {"supervisedTuningSpec": {"hyperParameters": {"epochCount": 9}}},
    ),
    Escape(
        "epochs-left-to-vertex",
        "limits.maxEpochs",
        "spec.supervisedTuningSpec.hyperParameters.epochCount",
        {"supervisedTuningSpec": {"hyperParameters": {}}},
    ),
)


def where(spec: JsonObject, tenant: JsonObject) -> Where:
    """The project and location a job spec will use under `tenant` (as the operator decides it)."""
    if spec.get("jobName"):
        parts = spec["jobName"].split("/")
        return Where(parts[1], parts[3])
    return Where(spec.get("projectID") or tenant["spec"]["projects"][0], spec.get("location"))
