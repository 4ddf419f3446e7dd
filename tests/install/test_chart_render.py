"""The chart, rendered by Helm 4 and Helm 3: lint, a matrix of values, schema errors, RBAC, environment.

No API server here; tests/install/test_install_apiserver.py installs the chart into a real one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller import config as operator_config
from controller import rbac
from controller.runtime.metrics import METRICS
from controller.testenv.tools import Tools, resolve_tools
from install.chart import (
    CHART,
    Doc,
    container,
    dashboard_metric_names,
    env_of,
    find,
    helm,
    one,
    render,
)

HELMS = ("helm", "helm3")
CLUSTER_SCOPED_KINDS = (
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)
RELEASE_NAMESPACE = "ops"
FULLNAME = "vertexops"  # release "vertexops" of chart "vertexops"
WORKLOAD_IDENTITY = "vertexops@my-project.iam.gserviceaccount.com"
EMULATOR_URL = "http://vertexops-emulator.vertexops-dev.svc:8090"


@pytest.fixture(scope="module")
def tools() -> Tools:
    return resolve_tools(install=True)


def binary(tools: Tools, name: str) -> Path:
    path: Path = getattr(tools, name)
    return path


# -- the values matrix ---------------------------------------------------------------------------------------


def check_defaults(docs: list[Doc]) -> None:
    assert find(docs, "ClusterRole") and find(docs, "ClusterRoleBinding")
    assert [r["metadata"]["name"] for r in find(docs, "Role")] == [f"{FULLNAME}-leader-election"]
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert env_of(deployment)["VERTEXOPS_LEADER_ELECTION"] == "true"
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert not find(docs, "ServiceMonitor") and not find(docs, "NetworkPolicy")
    dashboard = one(docs, "ConfigMap", f"{FULLNAME}-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["vertexops.json"])["panels"]


def check_restricted_namespaces(docs: list[Doc]) -> None:
    # Cluster-wide only what is so by nature: tenants, namespaces, and the users' aggregated roles.
    assert sorted(r["metadata"]["name"] for r in find(docs, "ClusterRole")) == [
        f"{FULLNAME}-edit",
        f"{FULLNAME}-tenancy",
        f"{FULLNAME}-view",
    ]
    assert [b["metadata"]["name"] for b in find(docs, "ClusterRoleBinding")] == [f"{FULLNAME}-tenancy"]
    for namespace in ("team-a", "team-b"):
        one(docs, "Role", FULLNAME, namespace)
        binding = one(docs, "RoleBinding", FULLNAME, namespace)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": "ops"}]
    assert env_of(one(docs, "Deployment"))["VERTEXOPS_NAMESPACES"] == "team-a,team-b"


def check_service_monitor(docs: list[Doc]) -> None:
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def check_network_policy(docs: list[Doc]) -> None:
    policy = one(docs, "NetworkPolicy")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 6443} <= egress_ports
    api_rule = next(r for r in policy["spec"]["egress"] if {"port": 6443, "protocol": "TCP"} in r["ports"])
    assert api_rule["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]


def check_workload_identity(docs: list[Doc]) -> None:
    account = one(docs, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": WORKLOAD_IDENTITY}
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert env_of(deployment)["VERTEXOPS_PROJECT"] == "my-project"


def check_emulator(docs: list[Doc]) -> None:
    env = env_of(one(docs, "Deployment"))
    assert env["VERTEXOPS_VERTEX_BASE_URL"] == EMULATOR_URL
    assert env["VERTEXOPS_GEMINI_BASE_URL"] == EMULATOR_URL
    policy = one(docs, "NetworkPolicy")
    assert any({"port": 8090, "protocol": "TCP"} in rule["ports"] for rule in policy["spec"]["egress"])


MATRIX: dict[str, tuple[dict[str, Any], Callable[[list[Doc]], None]]] = {
    "defaults": ({}, check_defaults),
    "restricted-namespaces": ({"watchNamespaces": ["team-a", "team-b"]}, check_restricted_namespaces),
    "service-monitor": (
        {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        check_service_monitor,
    ),
    "network-policy": (
        {
            "networkPolicy": {
                "enabled": True,
                "apiServerCIDRs": ["10.0.0.1/32"],
                "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
            }
        },
        check_network_policy,
    ),
    "workload-identity": (
        {
            "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": WORKLOAD_IDENTITY}},
            "google": {"project": "my-project"},
        },
        check_workload_identity,
    ),
    "emulator-base-url": (
        {
            "google": {"vertexBaseURL": EMULATOR_URL, "geminiBaseURL": EMULATOR_URL},
            "networkPolicy": {"enabled": True, "extraEgressPorts": [8090]},
        },
        check_emulator,
    ),
}


@pytest.mark.parametrize("helm_name", HELMS)
@pytest.mark.parametrize("case", MATRIX)
def test_lint_and_template(tools: Tools, helm_name: str, case: str) -> None:
    values, check = MATRIX[case]
    linted = helm(binary(tools, helm_name), "lint", str(CHART), "--strict", values=values)
    assert "0 chart(s) failed" in linted.stdout
    docs = render(binary(tools, helm_name), values, namespace=RELEASE_NAMESPACE)
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"], doc
        if doc["kind"] not in CLUSTER_SCOPED_KINDS:
            assert doc["metadata"].get("namespace"), f"{doc['kind']} has no namespace"
    check(docs)


@pytest.mark.parametrize("case", MATRIX)
def test_helm_3_and_helm_4_render_the_same_objects(tools: Tools, case: str) -> None:
    values, _ = MATRIX[case]
    assert render(tools.helm, values) == render(tools.helm3, values)


# -- schema --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("helm_name", HELMS)
@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"operator": {"wrokers": 3}}, "wrokers"),
        ({"serviceMonitr": {"enabled": True}}, "serviceMonitr"),
        ({"replicaCount": "two"}, "replicaCount"),
        ({"google": {"vertexBaseURL": "emulator:8090"}}, "vertexBaseURL"),
        ({"runAsUser": 0}, "runAsUser"),
        ({"watchNamespaces": ["Team_A"]}, "watchNamespaces"),
    ],
    ids=["typo-nested", "typo-top-level", "wrong-type", "url-without-scheme", "root-user", "bad-namespace"],
)
def test_a_bad_value_fails_and_names_the_key(
    tools: Tools, helm_name: str, values: dict[str, Any], named: str
) -> None:
    result = helm(binary(tools, helm_name), "template", "vertexops", str(CHART), values=values, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr


def test_replicas_without_leader_election_are_refused(tools: Tools) -> None:
    values = {"leaderElection": {"enabled": False}}
    result = helm(tools.helm, "template", "vertexops", str(CHART), values=values, check=False)
    assert result.returncode != 0 and "leaderElection.enabled" in result.stderr
    docs = render(tools.helm, {**values, "replicaCount": 1})
    assert env_of(one(docs, "Deployment"))["VERTEXOPS_LEADER_ELECTION"] == "false"
    assert not find(docs, "Role")


# -- RBAC ----------------------------------------------------------------------------------------------------


def _no_wildcards(rules: list[dict[str, list[str]]]) -> bool:
    return all("*" not in value for rule in rules for values in rule.values() for value in values)


def test_cluster_rbac_is_exactly_controller_rbac(tools: Tools) -> None:
    docs = render(tools.helm, namespace=RELEASE_NAMESPACE)
    cluster_role = one(docs, "ClusterRole", FULLNAME)
    assert cluster_role["rules"] == [dict(r) for r in rbac.WATCH_RULES]
    leader = one(docs, "Role", f"{FULLNAME}-leader-election", RELEASE_NAMESPACE)
    assert leader["rules"] == [dict(r) for r in rbac.LEADER_ELECTION_RULES]
    binding = one(docs, "ClusterRoleBinding", FULLNAME)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": FULLNAME,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NAMESPACE}
    ]
    assert _no_wildcards(cluster_role["rules"]) and _no_wildcards(leader["rules"])


def test_namespaced_rbac_is_exactly_controller_rbac(tools: Tools) -> None:
    docs = render(tools.helm, {"watchNamespaces": ["team-a", "team-b"]}, namespace=RELEASE_NAMESPACE)
    roles = find(docs, "Role", FULLNAME)
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        assert role["rules"] == [dict(r) for r in rbac.WATCH_RULES]
    leader = one(docs, "Role", f"{FULLNAME}-leader-election", RELEASE_NAMESPACE)
    assert leader["rules"] == [dict(r) for r in rbac.LEADER_ELECTION_RULES]


def test_tenancy_and_user_rbac_are_exactly_controller_rbac(tools: Tools) -> None:
    docs = render(tools.helm, namespace=RELEASE_NAMESPACE)
    tenancy = one(docs, "ClusterRole", f"{FULLNAME}-tenancy")
    assert tenancy["rules"] == [dict(r) for r in rbac.TENANCY_RULES]
    binding = one(docs, "ClusterRoleBinding", f"{FULLNAME}-tenancy")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NAMESPACE}
    ]
    for expected in rbac.aggregated_cluster_roles(FULLNAME):
        role = one(docs, "ClusterRole", expected["metadata"]["name"])
        assert role["rules"] == expected["rules"]
        assert expected["metadata"]["labels"].items() <= role["metadata"]["labels"].items()
        assert not any("tuningtenants" in r for rule in role["rules"] for r in rule["resources"])
    off = render(tools.helm, {"aggregateToDefaultRoles": False}, namespace=RELEASE_NAMESPACE)
    assert not find(off, "ClusterRole", f"{FULLNAME}-edit") and not find(
        off, "ClusterRole", f"{FULLNAME}-view"
    )


def test_admission_policy_and_strict_mode_values(tools: Tools) -> None:
    from controller.tenancy.admission import POLICY_NAME, admission_policy, admission_policy_binding

    docs = render(tools.helm, namespace=RELEASE_NAMESPACE)
    assert one(docs, "ValidatingAdmissionPolicy", POLICY_NAME) == admission_policy()
    assert one(docs, "ValidatingAdmissionPolicyBinding", POLICY_NAME) == admission_policy_binding()
    assert env_of(one(docs, "Deployment"))["VERTEXOPS_TENANCY_STRICT"] == "false"
    changed = render(
        tools.helm, {"tenancy": {"admissionPolicy": False, "strict": True}}, namespace=RELEASE_NAMESPACE
    )
    assert not find(changed, "ValidatingAdmissionPolicy") and not find(
        changed, "ValidatingAdmissionPolicyBinding"
    )
    assert env_of(one(changed, "Deployment"))["VERTEXOPS_TENANCY_STRICT"] == "true"


# -- what the operator is told -------------------------------------------------------------------------------


def _config_from(env: dict[str, str]) -> operator_config.OperatorConfig:
    parser = argparse.ArgumentParser()
    operator_config.add_arguments(parser)
    return operator_config.from_args(parser.parse_args([]), environ=env)


def test_every_variable_the_chart_sets_is_an_operator_option(tools: Tools) -> None:
    known = {option.env for option in operator_config.OPTIONS}
    everything_on = {
        "google": {
            "project": "p-123456",
            "impersonateServiceAccount": "tuner@p-123456.iam.gserviceaccount.com",
            "vertexBaseURL": EMULATOR_URL,
            "geminiBaseURL": EMULATOR_URL,
        },
        "watchNamespaces": ["team-a"],
    }
    for values in ({}, everything_on):
        env = env_of(one(render(tools.helm, values), "Deployment"))
        assert set(env) <= known, set(env) - known


def test_values_reach_the_operator_configuration(tools: Tools) -> None:
    values = {
        "google": {
            "project": "p-123456",
            "location": "europe-west4",
            "impersonateServiceAccount": "tuner@p-123456.iam.gserviceaccount.com",
            "vertexBaseURL": EMULATOR_URL,
            "geminiBaseURL": EMULATOR_URL,
            "timeoutSeconds": 20,
        },
        "watchNamespaces": ["team-a", "team-b"],
        "operator": {
            "workers": 7,
            "logFormat": "text",
            "logLevel": "DEBUG",
            "pollMinSeconds": 5,
            "pollMaxSeconds": 90,
            "metricsIntervalSeconds": 45.5,
            "metricsStatusSeconds": 300,
            "createGraceSeconds": 12,
            "resyncSeconds": 1200,
        },
        "leaderElection": {
            "leaseName": "tuning-leader",
            "leaseDurationSeconds": 30,
            "renewDeadlineSeconds": 20,
            "retryPeriodSeconds": 4,
        },
    }
    cfg = _config_from(env_of(one(render(tools.helm, values, namespace="ml-ops"), "Deployment")))
    assert cfg.vertex.default_project == "p-123456"
    assert cfg.vertex.default_location == "europe-west4"
    assert cfg.impersonate_service_account == "tuner@p-123456.iam.gserviceaccount.com"
    assert cfg.vertex_base_url == cfg.gemini_base_url == EMULATOR_URL
    assert cfg.google_timeout_seconds == 20
    assert cfg.runtime.namespaces == ("team-a", "team-b")
    assert cfg.runtime.workers == 7
    assert (cfg.runtime.log_format, cfg.runtime.log_level) == ("text", "DEBUG")
    assert (cfg.vertex.poll_min_seconds, cfg.vertex.poll_max_seconds) == (5, 90)
    assert cfg.vertex.metrics_interval_seconds == 45.5
    assert cfg.vertex.metrics_status_seconds == 300
    assert cfg.reconciler.create_grace_seconds == 12
    assert cfg.runtime.resync_period_seconds == 1200
    assert cfg.runtime.leader_election is True
    assert (cfg.runtime.lease_namespace, cfg.runtime.lease_name) == ("ml-ops", "tuning-leader")
    assert cfg.runtime.lease_duration_seconds == 30
    assert (cfg.runtime.renew_deadline_seconds, cfg.runtime.retry_period_seconds) == (20, 4)
    assert cfg.runtime.http_port == 8080


def test_default_values_give_the_operator_its_own_defaults(tools: Tools) -> None:
    """values.yaml repeats the operator's defaults; a drift between them would surprise chart users."""
    cfg = _config_from(env_of(one(render(tools.helm, namespace="vertexops-system"), "Deployment")))
    assert cfg == _config_from({})


# -- the pod -------------------------------------------------------------------------------------------------


def test_pod_is_hardened_and_probed(tools: Tools) -> None:
    deployment = one(render(tools.helm), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    main = container(deployment)
    assert main["args"] == ["run"]
    security = main["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]


def test_a_credentials_secret_is_mounted_read_only_and_named_for_adc(tools: Tools) -> None:
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in env_of(one(render(tools.helm), "Deployment"))
    values = {"google": {"credentials": {"secretName": "vertexops-google", "key": "adc.json"}}}
    deployment = one(render(tools.helm, values), "Deployment")
    pod, main = deployment["spec"]["template"]["spec"], container(deployment)
    assert env_of(deployment)["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/google/adc.json"
    mount = {"name": "google-credentials", "mountPath": "/var/run/secrets/google", "readOnly": True}
    assert mount in main["volumeMounts"]
    secret = {"secretName": "vertexops-google", "items": [{"key": "adc.json", "path": "adc.json"}]}
    assert {"name": "google-credentials", "secret": secret} in pod["volumes"]
    bad = helm(
        tools.helm,
        "template",
        "v",
        str(CHART),
        values={"google": {"credentials": {"key": "a/b"}}},
        check=False,
    )
    assert bad.returncode != 0 and "credentials/key" in bad.stderr


def test_dashboard_queries_only_metrics_the_operator_defines() -> None:
    """The scrape test in test_install_apiserver.py is stronger; this one needs no API server."""
    defined = set()
    for metric in METRICS:
        defined.add(metric.name)
        if metric.type == "histogram":
            defined |= {f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count"}
    used = dashboard_metric_names()
    assert used and used <= defined, used - defined
