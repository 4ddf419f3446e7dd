"""The ValidatingAdmissionPolicy that refuses, at `kubectl apply`, a TuningJob its TuningTenant forbids.

In-tree admission (admissionregistration.k8s.io/v1): no webhook to run, nothing to fail open. The policy's
`paramKind` is TuningTenant and its binding selects every TuningTenant (`paramRef.selector: {}`), so the
API server evaluates the policy once per tenant; each evaluation first asks, in `variables.covered`, whether
that tenant covers the job's namespace (names, or its label selector in CEL), and keeps every rule of
`controller.tenancy.rules` only then. With no TuningTenant at all, `parameterNotFoundAction: Allow` keeps the
single-team behaviour.

What admission cannot decide is left to the operator, which enforces every rule again before any Google
call: strict mode (no tenant covers the namespace: the policy sees one tenant at a time, never the absence of
all), a namespace covered by two tenants, the operator's default location, and the concurrency limit.

Only CREATE is checked: a TuningJob's inputs are immutable, and checking UPDATE would also refuse the
operator's own finalizer writes on a job admitted before its tenant was narrowed.
"""

from __future__ import annotations

from typing import Any

from controller.api.resource import API_VERSION, GROUP, VERSION
from controller.api.tuningjob import TUNING_JOB
from controller.api.tuningtenant import TUNING_TENANT
from controller.tenancy.rules import RULES

POLICY_NAME = "tuningtenants.tuning.vertexops.dev"

_SELECTOR = "params.spec.namespaces.selector"
_REQUIREMENT = (
    "e.operator == 'In' ? (e.key in variables.labels && has(e.values) && variables.labels[e.key] in e.values)"
    " : e.operator == 'NotIn' ? !(e.key in variables.labels && has(e.values) && "
    "variables.labels[e.key] in e.values)"
    " : e.operator == 'Exists' ? e.key in variables.labels"
    " : !(e.key in variables.labels)"
)

VARIABLES: tuple[dict[str, str], ...] = (
    {
        "name": "labels",
        "expression": "has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}",
    },
    {
        "name": "byName",
        "expression": "has(params.spec.namespaces.names) && "
        "namespaceObject.metadata.name in params.spec.namespaces.names",
    },
    {
        "name": "bySelector",
        "expression": f"has({_SELECTOR}) && "
        f"(!has({_SELECTOR}.matchLabels) || {_SELECTOR}.matchLabels.all(k, "
        f"k in variables.labels && variables.labels[k] == {_SELECTOR}.matchLabels[k])) && "
        f"(!has({_SELECTOR}.matchExpressions) || {_SELECTOR}.matchExpressions.all(e, {_REQUIREMENT}))",
    },
    {"name": "covered", "expression": "variables.byName || variables.bySelector"},
    {
        "name": "project",
        "expression": "has(object.spec.jobName) ? object.spec.jobName.split('/')[1] : "
        "has(object.spec.projectID) ? object.spec.projectID : "
        "(has(params.spec.defaultProject) ? params.spec.defaultProject : params.spec.projects[0])",
    },
    {
        "name": "location",
        "expression": "has(object.spec.jobName) ? object.spec.jobName.split('/')[3] : "
        "has(object.spec.location) ? object.spec.location : "
        "(has(params.spec.defaultLocation) ? params.spec.defaultLocation : '')",
    },
)


def validations() -> list[dict[str, str]]:
    return [
        {
            "expression": f"!variables.covered || ({rule.cel})",
            "messageExpression": rule.cel_message,
            "message": f"{rule.field}: not allowed by the namespace's TuningTenant ({rule.name})",
            "reason": "Forbidden",
        }
        for rule in RULES
    ]


def admission_policy(name: str = POLICY_NAME) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": API_VERSION, "kind": TUNING_TENANT.kind},
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": [VERSION],
                        "operations": ["CREATE"],
                        "resources": [TUNING_JOB.plural],
                    }
                ]
            },
            "variables": [dict(v) for v in VARIABLES],
            "validations": validations(),
        },
    }


def admission_policy_binding(name: str = POLICY_NAME, policy: str = POLICY_NAME) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": policy,
            "validationActions": ["Deny"],
            "paramRef": {"selector": {}, "parameterNotFoundAction": "Allow"},
        },
    }
