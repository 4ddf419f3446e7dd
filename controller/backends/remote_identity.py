"""Which remote tuning job belongs to a TuningJob resource: identity from Git, and what may be adopted.

A resource's UID is new in every cluster, so it cannot be the only key of a paid job: a cluster rebuilt from
the same Git repository, a namespace deleted and re-created by Argo CD, or a second cluster reading the same
repository would otherwise pay for every job again. So each job the operator creates also carries an
*identity* label computed only from what Git holds: the namespace, the name, and the job's immutable inputs
(base model, data, hyperparameters, display name, description, labels, encryption, service account, and the
project and location they resolve to), plus the operator's optional fleet name for users who want every
cluster to run its own jobs. The same manifest gives the same identity in every cluster; a changed input
gives a new one, so editing the data (under a new name or after deleting the resource) never adopts the old
job.

A Vertex label value is at most 63 characters of lowercase letters, digits, `_` and `-`: the identity is the
first 32 hex digits (128 bits) of a SHA-256 over a canonical JSON document (sorted keys, no whitespace, the
spec as the CRD types parse it, so `epochCount: 3` and `"3"` or `1` and `1.0` hash alike).

What is adopted when the identity matches (and `spec.adoptionPolicy` is `IfExists`, the default):
- pending, running, succeeded, failed jobs: adopted as they are. A succeeded job is Ready again with its
  model and endpoint; a running one is followed to its end; a failed one shows Stalled with its error (the
  same inputs would fail the same way; change an input to tune again).
- cancelled (or cancelling) jobs are *not* adopted: a job is cancelled by a deletion with the `Cancel`
  policy or by a person, and a manifest that is still in Git (or applied again) asks for the job to run.
  A new job is created; it carries the same identity, and the newest adoptable job wins later look-ups.
Among several adoptable jobs with one identity (two clusters that raced, or a job re-run under
`adoptionPolicy: Never`), the most recently created is followed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from controller.api.tuningjob import TuningJobSpec
from controller.google.models_vertex import TuningJob

IDENTITY_LABEL = "vertexops-identity"  # inside the label prefix the CRD reserves for the operator
IDENTITY_VERSION = 1
# The spec fields that make up the remote job; everything else (testPrompts, publish, the policies) can
# change without the job being a different one.
_INPUT_FIELDS = (
    "baseModel",
    "preTunedModel",  # absent from older jobs' specs, so their identities do not change
    "supervisedTuningSpec",
    "preferenceOptimizationSpec",
    "tunedModelDisplayName",
    "description",
    "labels",
    "encryptionSpec",
    "serviceAccount",
)
_NOT_ADOPTABLE = frozenset({"JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING"})
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def identity_document(
    namespace: str, name: str, spec: TuningJobSpec, *, project: str, location: str, fleet: str = ""
) -> dict[str, Any]:
    """The canonical document the identity hashes; shown by `identity_of` callers when debugging."""
    wire = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    document: dict[str, Any] = {
        "version": IDENTITY_VERSION,
        "namespace": namespace,
        "name": name,
        "project": project,
        "location": location,
        "inputs": {key: wire[key] for key in _INPUT_FIELDS if key in wire},
    }
    if fleet:
        document["fleet"] = fleet
    return document


def identity_of(
    namespace: str, name: str, spec: TuningJobSpec, *, project: str, location: str, fleet: str = ""
) -> str:
    """The identity label value of the job this resource declares."""
    document = identity_document(namespace, name, spec, project=project, location=location, fleet=fleet)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def adoptable(job: TuningJob) -> bool:
    """Whether a job found by identity may stand for the resource (see the module docstring)."""
    return job.state not in _NOT_ADOPTABLE


def choose_by_identity(jobs: Iterable[TuningJob]) -> TuningJob | None:
    """The job to adopt among those carrying the identity: the newest adoptable one."""
    candidates = [job for job in jobs if adoptable(job)]
    if not candidates:
        return None
    return max(candidates, key=lambda j: (j.create_time or _LONG_AGO, j.name))


def choose_by_uid(jobs: Iterable[TuningJob]) -> TuningJob | None:
    """The job this very resource created (its UID label), whatever its state: the oldest if several."""
    found = sorted(jobs, key=lambda j: (j.create_time or datetime.max.replace(tzinfo=UTC), j.name))
    return found[0] if found else None


def import_differences(spec: TuningJobSpec, job: TuningJob) -> list[str]:
    """How an imported job differs from what its resource's spec states, one phrase per field.

    Only fields the spec states are compared: an import may name nothing but the job. Nothing can be done
    about a difference remotely (a tuning job cannot be changed), so it is reported, never "fixed".
    """
    found: list[str] = []

    def compare(field: str, stated: object, actual: object) -> None:
        if stated is not None and stated != actual:
            found.append(f"spec.{field} is {_show(stated)} but the job has {_show(actual)}")

    if spec.base_model is not None:
        compare("baseModel", _model_id(spec.base_model), _model_id(job.base_model or ""))
    specs: tuple[tuple[str, Any, Any], ...] = (
        ("supervisedTuningSpec.", spec.supervised_tuning_spec, job.supervised_tuning_spec),
        ("preferenceOptimizationSpec.", spec.preference_optimization_spec, job.preference_optimization_spec),
    )
    for spec_prefix, stated, actual in specs:
        if stated is None:
            continue
        compare(
            spec_prefix + "trainingDatasetUri",
            stated.training_dataset_uri,
            actual and actual.training_dataset_uri,
        )
        compare(
            spec_prefix + "validationDatasetUri",
            stated.validation_dataset_uri,
            actual and actual.validation_dataset_uri,
        )
        compare(
            spec_prefix + "exportLastCheckpointOnly",
            stated.export_last_checkpoint_only,
            actual and actual.export_last_checkpoint_only,
        )
        hyper = stated.hyper_parameters
        remote = actual.hyper_parameters if actual else None
        if hyper is not None:
            prefix = spec_prefix + "hyperParameters."
            compare(prefix + "epochCount", hyper.epoch_count, remote and remote.epoch_count)
            compare(
                prefix + "learningRateMultiplier",
                hyper.learning_rate_multiplier,
                remote and remote.learning_rate_multiplier,
            )
            compare(prefix + "adapterSize", hyper.adapter_size, remote and remote.adapter_size)
            if hasattr(hyper, "beta"):
                compare(prefix + "beta", hyper.beta, remote and remote.beta)
    compare("tunedModelDisplayName", spec.tuned_model_display_name, job.tuned_model_display_name)
    compare("description", spec.description, job.description)
    compare("serviceAccount", spec.service_account, job.service_account)
    if spec.encryption_spec is not None:
        compare(
            "encryptionSpec.kmsKeyName",
            spec.encryption_spec.kms_key_name,
            job.encryption_spec.kms_key_name if job.encryption_spec else None,
        )
    for key, value in sorted((spec.labels or {}).items()):
        compare(f"labels.{key}", value, job.labels.get(key))
    return found


def _model_id(name: str) -> str:
    """`publishers/google/models/gemini-2.5-flash` and `gemini-2.5-flash` name the same base model."""
    return name.rsplit("/", 1)[-1]


def _show(value: object) -> str:
    return "absent" if value is None or value == "" else json.dumps(value)
