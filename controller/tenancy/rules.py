"""The rules a TuningTenant imposes on a TuningJob, each written once for both places that enforce it.

Every `Rule` carries a Python check (run by the operator before any Google call) and the same check in CEL
with the same message (run by the API server through the ValidatingAdmissionPolicy, so `kubectl apply`
refuses the job). The message names the field, the value, the tenant and what is allowed, so a user can
fix the manifest without reading the tenant.

In CEL, `object` is the TuningJob, `params` the TuningTenant, and `variables.project` / `variables.location`
the project and location the job will use (its own, else the tenant's default; an imported job's, from
spec.jobName). A field an imported job does not state is not checked: the job exists already, and the
tenant's identity can only see jobs in the tenant's projects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Where:
    """The project and location a job will run in, once defaults are applied (None: not decided here)."""

    project: str
    location: str | None


@dataclass(frozen=True)
class Rule:
    name: str  # the tenant field that states the rule, as the message names it
    field: str  # the TuningJob field it checks
    # (job spec, tenant object, where) -> message when the job breaks the rule, None when it keeps it
    check: Callable[[JsonObject, JsonObject, Where], str | None]
    cel: str  # true when the job keeps the rule
    cel_message: str  # the same message as `check`, in CEL


def _tenant(tenant: JsonObject) -> str:
    return str(tenant["metadata"]["name"])


def _allowed(values: Sequence[str]) -> str:
    return ", ".join(values)


def _check_project(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
    allowed = tenant["spec"]["projects"]
    if where.project in allowed:
        return None
    field = "spec.jobName" if spec.get("jobName") else "spec.projectID"
    return (
        f"{field}: project '{where.project}' is not allowed by TuningTenant '{_tenant(tenant)}' "
        f"(projects: {_allowed(allowed)})"
    )


def _check_location(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
    allowed = tenant["spec"].get("locations")
    if allowed is None or where.location is None or where.location in allowed:
        return None
    field = "spec.jobName" if spec.get("jobName") else "spec.location"
    return (
        f"{field}: location '{where.location}' is not allowed by TuningTenant '{_tenant(tenant)}' "
        f"(locations: {_allowed(allowed)})"
    )


def _check_service_account(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
    account = spec.get("serviceAccount")
    allowed = tenant["spec"].get("jobServiceAccounts") or []
    if account is None or account in allowed:
        return None
    return (
        f"spec.serviceAccount: service account '{account}' is not allowed by TuningTenant "
        f"'{_tenant(tenant)}' (jobServiceAccounts: {_allowed(allowed) or 'none'})"
    )


# The members of the TuningJob's one-of tuning spec: each holds dataset URIs and an epoch count.
TUNING_SPECS = ("supervisedTuningSpec", "preferenceOptimizationSpec")


def _dataset_check(tuning: str, key: str) -> Callable[[JsonObject, JsonObject, Where], str | None]:
    def check(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
        uri = (spec.get(tuning) or {}).get(key)
        prefixes = tenant["spec"]["datasetURIPrefixes"]
        if uri is None or any(uri.startswith(prefix) for prefix in prefixes):
            return None
        return (
            f"spec.{tuning}.{key}: '{uri}' is not under a prefix allowed by TuningTenant "
            f"'{_tenant(tenant)}' (datasetURIPrefixes: {_allowed(prefixes)})"
        )

    return check


def _check_base_model(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
    allowed = tenant["spec"].get("baseModels")
    model = spec.get("baseModel")
    if allowed is None or model is None or model in allowed:  # None: an imported job states none
        return None
    return (
        f"spec.baseModel: base model '{model}' is not allowed by TuningTenant '{_tenant(tenant)}' "
        f"(baseModels: {_allowed(allowed)})"
    )


def _epochs_check(tuning: str) -> Callable[[JsonObject, JsonObject, Where], str | None]:
    def check(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
        limit = (tenant["spec"].get("limits") or {}).get("maxEpochs")
        if limit is None or tuning not in spec:  # the other kind of tuning, or an import stating nothing
            return None
        hyper = (spec.get(tuning) or {}).get("hyperParameters") or {}
        epochs = hyper.get("epochCount")
        if epochs is not None and int(epochs) <= int(limit):
            return None
        asked = f"{epochs} epochs" if epochs is not None else "no epochCount (Vertex AI would choose)"
        return (
            f"spec.{tuning}.hyperParameters.epochCount: {asked} is more than TuningTenant "
            f"'{_tenant(tenant)}' allows (limits.maxEpochs: {limit})"
        )

    return check


def _check_pre_tuned_model(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
    """A model to tune on from lies in the tenant's projects and locations like the job itself: otherwise a
    tenant could continue from (and so read out) a model another team tuned on its own data."""
    name = (spec.get("preTunedModel") or {}).get("tunedModelName")
    if not name:  # none, or a tuningJobRef: a TuningJob of the same namespace, held to these rules itself
        return None
    projects = tenant["spec"]["projects"]
    locations = tenant["spec"].get("locations")
    # projects/P/locations/L/models/M[@version] (the CRD's pattern holds it to this shape)
    if any(name.startswith(f"projects/{p}/") for p in projects) and (
        locations is None or any(f"/locations/{loc}/" in name for loc in locations)
    ):
        return None
    return (
        f"spec.preTunedModel.tunedModelName: '{name}' is not in a project and location allowed by "
        f"TuningTenant '{_tenant(tenant)}' (projects: {_allowed(projects)}; locations: "
        f"{_allowed(locations) if locations is not None else 'any'})"
    )


def _check_preflight(spec: JsonObject, tenant: JsonObject, where: Where) -> str | None:
    if not tenant["spec"].get("requireDatasetPreflight") or spec.get("jobName"):
        return None
    mode = (spec.get("preflight") or {}).get("mode")
    if mode is None or mode == "Required":
        return None
    return (
        f"spec.preflight.mode: {mode} is not allowed by TuningTenant '{_tenant(tenant)}' "
        "(requireDatasetPreflight: the dataset must be checked; use Required or leave it out)"
    )


def _dataset_rules(tuning: str) -> tuple[Rule, Rule]:
    """datasetURIPrefixes on the training and validation data of one kind of tuning spec."""
    spec = f"object.spec.{tuning}"
    training = Rule(
        "datasetURIPrefixes",
        f"spec.{tuning}.trainingDatasetUri",
        _dataset_check(tuning, "trainingDatasetUri"),
        f"!has({spec}) || params.spec.datasetURIPrefixes.exists(p, {spec}.trainingDatasetUri.startsWith(p))",
        f"'spec.{tuning}.trainingDatasetUri: \\'' + {spec}.trainingDatasetUri + '\\' is not under a prefix "
        "allowed by TuningTenant \\'' + params.metadata.name + '\\' (datasetURIPrefixes: ' + "
        "params.spec.datasetURIPrefixes.join(', ') + ')'",
    )
    validation = Rule(
        "datasetURIPrefixes",
        f"spec.{tuning}.validationDatasetUri",
        _dataset_check(tuning, "validationDatasetUri"),
        f"!has({spec}) || !has({spec}.validationDatasetUri) || "
        f"params.spec.datasetURIPrefixes.exists(p, {spec}.validationDatasetUri.startsWith(p))",
        f"'spec.{tuning}.validationDatasetUri: \\'' + {spec}.validationDatasetUri + '\\' is not under a "
        "prefix allowed by TuningTenant \\'' + params.metadata.name + '\\' (datasetURIPrefixes: ' + "
        "params.spec.datasetURIPrefixes.join(', ') + ')'",
    )
    return training, validation


def _epochs_rule(tuning: str) -> Rule:
    """limits.maxEpochs on one kind of tuning spec (an epochCount left to Vertex AI breaks it)."""
    hyper = f"object.spec.{tuning}.hyperParameters"
    return Rule(
        "limits.maxEpochs",
        f"spec.{tuning}.hyperParameters.epochCount",
        _epochs_check(tuning),
        "!has(params.spec.limits) || !has(params.spec.limits.maxEpochs) || "
        f"!has(object.spec.{tuning}) || "
        f"(has({hyper}) && has({hyper}.epochCount) && "
        f"{hyper}.epochCount <= params.spec.limits.maxEpochs)",
        f"'spec.{tuning}.hyperParameters.epochCount: ' + "
        f"((has({hyper}) && has({hyper}.epochCount)) ? string({hyper}.epochCount) + ' epochs' : "
        "'no epochCount (Vertex AI would choose)') + ' is more than TuningTenant \\'' + "
        "params.metadata.name + '\\' allows (limits.maxEpochs: ' + "
        "string(params.spec.limits.maxEpochs) + ')'",
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "projects",
        "spec.projectID",
        _check_project,
        "variables.project in params.spec.projects",
        "(has(object.spec.jobName) ? 'spec.jobName' : 'spec.projectID') + "
        "': project \\'' + variables.project + '\\' is not allowed by TuningTenant \\'' "
        "+ params.metadata.name + '\\' (projects: ' + params.spec.projects.join(', ') + ')'",
    ),
    Rule(
        "locations",
        "spec.location",
        _check_location,
        "!has(params.spec.locations) || variables.location == '' || "
        "variables.location in params.spec.locations",
        "(has(object.spec.jobName) ? 'spec.jobName' : 'spec.location') + "
        "': location \\'' + variables.location + '\\' is not allowed by TuningTenant \\'' "
        "+ params.metadata.name + '\\' (locations: ' + params.spec.locations.join(', ') + ')'",
    ),
    Rule(
        "jobServiceAccounts",
        "spec.serviceAccount",
        _check_service_account,
        "!has(object.spec.serviceAccount) || (has(params.spec.jobServiceAccounts) && "
        "object.spec.serviceAccount in params.spec.jobServiceAccounts)",
        "'spec.serviceAccount: service account \\'' + object.spec.serviceAccount + '\\' is not allowed by "
        "TuningTenant \\'' + params.metadata.name + '\\' (jobServiceAccounts: ' + "
        "(has(params.spec.jobServiceAccounts) ? params.spec.jobServiceAccounts.join(', ') : 'none') + ')'",
    ),
    *(rule for tuning in TUNING_SPECS for rule in _dataset_rules(tuning)),
    Rule(
        "baseModels",
        "spec.baseModel",
        _check_base_model,
        "!has(params.spec.baseModels) || !has(object.spec.baseModel) || "
        "object.spec.baseModel in params.spec.baseModels",
        "'spec.baseModel: base model \\'' + object.spec.baseModel + '\\' is not allowed by TuningTenant "
        "\\'' + params.metadata.name + '\\' (baseModels: ' + params.spec.baseModels.join(', ') + ')'",
    ),
    *(_epochs_rule(tuning) for tuning in TUNING_SPECS),
    Rule(
        "projects",
        "spec.preTunedModel.tunedModelName",
        _check_pre_tuned_model,
        "!has(object.spec.preTunedModel) || !has(object.spec.preTunedModel.tunedModelName) || "
        "(params.spec.projects.exists(p, object.spec.preTunedModel.tunedModelName.startsWith("
        "'projects/' + p + '/')) && (!has(params.spec.locations) || params.spec.locations.exists(l, "
        "object.spec.preTunedModel.tunedModelName.contains('/locations/' + l + '/'))))",
        "'spec.preTunedModel.tunedModelName: \\'' + object.spec.preTunedModel.tunedModelName + "
        "'\\' is not in a project and location allowed by TuningTenant \\'' + params.metadata.name + "
        "'\\' (projects: ' + params.spec.projects.join(', ') + '; locations: ' + "
        "(has(params.spec.locations) ? params.spec.locations.join(', ') : 'any') + ')'",
    ),
    Rule(
        "requireDatasetPreflight",
        "spec.preflight.mode",
        _check_preflight,
        "!has(params.spec.requireDatasetPreflight) || !params.spec.requireDatasetPreflight || "
        "has(object.spec.jobName) || !has(object.spec.preflight) || !has(object.spec.preflight.mode) || "
        "object.spec.preflight.mode == 'Required'",
        "'spec.preflight.mode: ' + object.spec.preflight.mode + ' is not allowed by TuningTenant \\'' + "
        "params.metadata.name + '\\' (requireDatasetPreflight: the dataset must be checked; use Required "
        "or leave it out)'",
    ),
)


def violations(spec: JsonObject, tenant: JsonObject, where: Where) -> list[str]:
    """The message of every rule of `tenant` the job spec breaks, in the order of RULES."""
    found = (rule.check(spec, tenant, where) for rule in RULES)
    return [message for message in found if message is not None]
