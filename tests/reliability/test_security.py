"""Security: the operator holds no right beyond `controller.rbac`, reads Secrets only from a resource's own
namespace, and never lets a credential reach a log line, an event, a status, a metric or an error message.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.support import Resources, condition, is_true, tuned_model, tuning_job
from kubernetes import client as k8s

from controller import rbac
from controller.testenv.controlplane import ControlPlane
from controller.testenv.google_credentials import EXTERNAL_ACCOUNT, SERVICE_ACCOUNT, minted_tokens
from controller.testenv.operator import OPERATOR_NAMESPACE
from emulator.server import Emulator
from reliability.support import Operators, cond_is, wait_all

PLURAL = "tunedmodels"

Right = tuple[str, str, str]  # (apiGroup, resource, verb)


def _expand(rules: Any) -> set[Right]:
    out: set[Right] = set()
    for rule in rules:
        get = rule.get if isinstance(rule, dict) else lambda k, r=rule: getattr(r, _snake(k))
        for group in get("apiGroups") or []:
            for resource in get("resources") or []:
                for verb in get("verbs") or []:
                    out.add((group, resource, verb))
    return out


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _built_in(api: k8s.ApiClient) -> tuple[set[Right], set[tuple[str, str]]]:
    """The rights Kubernetes itself gives every authenticated user and every ServiceAccount.

    Read from the server: the `system:` ClusterRoles bound to the `system:authenticated` or
    `system:serviceaccounts` groups (discovery, public info, self reviews, service-account issuer).
    """
    rbac_api = k8s.RbacAuthorizationV1Api(api)
    groups = {"system:authenticated", "system:serviceaccounts"}
    roles = {
        binding.role_ref.name
        for binding in rbac_api.list_cluster_role_binding().items
        if binding.metadata.name.startswith("system:")
        and any(s.kind == "Group" and s.name in groups for s in binding.subjects or [])
    }
    rights: set[Right] = set()
    urls: set[tuple[str, str]] = set()
    for name in sorted(roles):
        for rule in rbac_api.read_cluster_role(name).rules or []:
            rights |= _expand([rule])
            for url in rule.non_resource_urls or []:
                urls |= {(url, verb) for verb in rule.verbs}
    assert rights and urls, f"no built-in rights found in {sorted(roles)}"
    return rights, urls


def test_the_operator_holds_exactly_the_documented_rights_and_no_wildcard(
    crds: ControlPlane, api_client: k8s.ApiClient, operator_kubeconfig: Path, namespace: str
) -> None:
    built_in_rights, built_in_urls = _built_in(api_client)
    ours = _expand(rbac.WATCH_RULES)
    tenancy = _expand(rbac.TENANCY_RULES)  # cluster-wide: read tenants and namespaces, write tenants' status
    leader = _expand(rbac.LEADER_ELECTION_RULES)
    with crds.api_client(operator_kubeconfig) as operator_api:
        authz = k8s.AuthorizationV1Api(operator_api)
        for ns in (namespace, OPERATOR_NAMESPACE, "default", "kube-system"):
            review = authz.create_self_subject_rules_review({"spec": {"namespace": ns}}).status
            assert not review.incomplete, review.evaluation_error
            granted = _expand(review.resource_rules)
            wildcards = sorted(r for r in granted if "*" in r)
            assert not wildcards, f"{ns}: wildcard rights {wildcards}"
            allowed = ours | tenancy | built_in_rights | (leader if ns == OPERATOR_NAMESPACE else set())
            assert granted - allowed == set(), f"{ns}: rights not in controller/rbac.py: {granted - allowed}"
            assert ours | tenancy <= granted, f"{ns}: documented rights missing: {(ours | tenancy) - granted}"
            if ns == OPERATOR_NAMESPACE:
                assert leader <= granted
            else:
                assert not (leader - ours) & granted, f"{ns}: Lease rights outside the operator namespace"
            urls = {
                (url, verb)
                for rule in review.non_resource_rules
                for url in rule.non_resource_urls
                for verb in rule.verbs
            }
            extra_urls = urls - built_in_urls
            assert not extra_urls, f"{ns}: non-resource rights beyond Kubernetes' defaults: {extra_urls}"

    # The same, as an administrator would check it by hand.
    listed = crds.kubectl("auth", "can-i", "--list", "-n", namespace, kubeconfig=operator_kubeconfig).stdout
    for line in listed.splitlines()[1:]:
        tokens = line.split()
        if not tokens or tokens[0].startswith("["):
            continue  # a non-resource URL line: Kubernetes' discovery roles, compared above
        verbs = line[line.rindex("[") :]
        assert "*" not in tokens[0] and "*" not in verbs, line
    for verb, resource, expected in (
        ("get", "secrets", "yes"),
        ("list", "secrets", "no"),
        ("watch", "secrets", "no"),
        ("delete", "tuningjobs.tuning.vertexops.dev", "no"),
        ("update", "tuningjobs.tuning.vertexops.dev", "no"),
        ("create", "pods", "no"),
        ("patch", "tuningtenants.tuning.vertexops.dev", "no"),
        ("delete", "tuningtenants.tuning.vertexops.dev", "no"),
        ("patch", "namespaces", "no"),
        ("create", "leases.coordination.k8s.io", "no"),
    ):
        answer = crds.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, kubeconfig=operator_kubeconfig, check=False
        ).stdout.strip()
        assert answer == expected, (verb, resource, answer)


@pytest.fixture
def other_namespace(api_client: k8s.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"vertexops.dev/test": "true"}}})
    yield name
    core.delete_namespace(name)


def _secret(name: str, key: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {key: base64.b64encode(value.encode()).decode()}}


def test_a_secret_in_another_namespace_is_never_used(
    crds: ControlPlane,
    namespace: str,
    *,
    other_namespace: str,
    resources: Resources,
    emulator: Emulator,
    operator_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    key = f"AIzaSy-other-namespace-{uuid.uuid4().hex}"
    emulator.config.valid_credentials = [key]
    # The operator watches both namespaces: it could read B's Secret if it looked there.
    fleet = Operators(operator_kubeconfig, emulator, tmp_path, [namespace, other_namespace])
    try:
        fleet.start()
        resources.core.create_namespaced_secret(other_namespace, _secret("gemini-key", "apiKey", key))
        resources.create(
            tuned_model("borrower", apiKeySecretRef={"name": "gemini-key", "key": "apiKey"}), PLURAL
        )
        # A namespace field is not part of the reference: the API server drops it, it cannot redirect.
        sneaky = tuned_model(
            "sneaky", apiKeySecretRef={"name": "gemini-key", "key": "apiKey", "namespace": other_namespace}
        )
        stored = resources.create(sneaky, PLURAL)
        assert "namespace" not in stored["spec"]["apiKeySecretRef"]
        slashed = tuned_model(
            "slashed", apiKeySecretRef={"name": f"{other_namespace}/gemini-key", "key": "apiKey"}
        )
        refused = crds.kubectl("create", "-n", namespace, "-f", "-", check=False, input=json.dumps(slashed))
        assert refused.returncode != 0 and "apiKeySecretRef.name" in refused.stderr, refused.stderr

        stalled = wait_all(
            resources,
            ["borrower", "sneaky"],
            lambda o: cond_is(o, "Stalled", "True"),
            timeout=60,
            what="Stalled",
            plural=PLURAL,
        )
        for name, obj in stalled.items():
            found = condition(obj, "Stalled")
            assert found is not None and found["reason"] == "SecretNotFound", (name, found)
            assert "gemini-key" in found["message"] and "spec.apiKeySecretRef" in found["message"], found
        assert emulator.count("tunedModels.create") == 0
        assert not any(r.status == 200 for r in emulator.requests() if r.api == "gemini")
    finally:
        fleet.stop_all()


def _grep_all(sentinels: dict[str, str], places: dict[str, str]) -> list[str]:
    return [
        f"{what} found in {where}"
        for what, value in sentinels.items()
        for where, text in places.items()
        if value in text
    ]


@pytest.mark.parametrize("google_credentials", [SERVICE_ACCOUNT, EXTERNAL_ACCOUNT])
def test_no_credential_reaches_logs_events_status_metrics_or_errors(
    crds: ControlPlane,
    namespace: str,
    *,
    resources: Resources,
    emulator: Emulator,
    operators: Operators,
    operator_kubeconfig: Path,
    google_credentials: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good_key = f"AIzaSy-SENTINEL-GOOD-{uuid.uuid4().hex}"
    bad_key = f"AIzaSy-SENTINEL-BAD-{uuid.uuid4().hex}"
    kube_token = yaml.safe_load(operator_kubeconfig.read_text())["users"][0]["user"]["token"]
    # The Gemini API opens only with the good key; Vertex only with an access token the emulator minted
    # for the operator's own ADC identity, through google-auth, in this run.
    emulator.config.valid_credentials = [good_key]
    resources.core.create_namespaced_secret(namespace, _secret("good-key", "apiKey", good_key))
    resources.core.create_namespaced_secret(namespace, _secret("bad-key", "apiKey", bad_key))
    # Every level: a DEBUG line that printed a header or a token would be a leak like any other.
    proc = operators.start("--log-level=DEBUG", google_credentials=google_credentials)
    assert proc.adc is not None and proc.adc.kind == google_credentials
    # Failures on the Vertex side too: a 401 (the operator drops its token, gets a second one and tries
    # once more: 401 again, so the reconcile fails), then a 403, on the create call.
    emulator.add_fault("status", "tuningJobs.create", status=401, times=2)
    resources.create(tuning_job("vertex-job"))
    _wait_for_code(emulator, "tuningJobs.create", 401, count=2)
    emulator.add_fault("permission_denied", "tuningJobs.create", times=1)
    _wait_for_code(emulator, "tuningJobs.create", 403)
    # Stalled waits for the user; once the permission is granted, any edit brings the job back.
    resources.wait_for("vertex-job", lambda o: cond_is(o, "Stalled", "True", "PermissionDenied"))
    resources.patch("vertex-job", {"metadata": {"annotations": {"example.com/permission-granted": "true"}}})

    resources.create(tuned_model("keyed", apiKeySecretRef={"name": "good-key", "key": "apiKey"}), PLURAL)
    resources.create(tuned_model("rejected", apiKeySecretRef={"name": "bad-key", "key": "apiKey"}), PLURAL)
    wait_all(resources, ["vertex-job"], lambda o: is_true(o, "Ready"), timeout=120, what="Ready")
    ready = resources.wait_for(
        "keyed", lambda o: is_true(o, "Ready"), timeout=120, plural=PLURAL, what="Ready"
    )
    rejected = resources.wait_for(
        "rejected", lambda o: cond_is(o, "Stalled", "True"), timeout=60, plural=PLURAL, what="Stalled"
    )
    stalled = condition(rejected, "Stalled")
    assert stalled is not None and stalled["reason"] == "PermissionDenied", stalled
    # The faults really fired, and the good key really was what opened the Gemini API.
    codes = [r.status for r in emulator.requests("tuningJobs.create")]
    assert 401 in codes and 403 in codes and 200 in codes, codes
    assert ready["status"]["state"] == "ACTIVE"

    # The operator really authenticated through google-auth: its tokens came from the emulator's token
    # endpoint (a second one after the 401), and every Vertex call carried one in the header.
    tokens = minted_tokens(emulator.url, proc.adc.token_prefix)
    grant = "oauth2.token" if google_credentials == SERVICE_ACCOUNT else "sts.token"
    assert len(tokens) >= 2 and [r.status for r in emulator.requests(grant)].count(200) == len(tokens)
    vertex_calls = [r for r in emulator.requests() if r.api == "vertex"]
    assert vertex_calls and all(r.credentials == ("bearer-header",) for r in vertex_calls)
    gemini_keyed = [r for r in emulator.requests() if r.api == "gemini"]
    assert gemini_keyed and all(r.credentials == ("api-key-header",) for r in gemini_keyed)

    events = resources.core.list_namespaced_event(namespace).items
    captured = capsys.readouterr()
    places = {
        "operator log": proc.log_path.read_text(errors="replace"),
        "events": json.dumps([api_client_sanitize(e) for e in events]),
        "status": json.dumps(
            [o.get("status") for o in (ready, rejected, resources.get("vertex-job"))], ensure_ascii=False
        ),
        "metrics": proc.metrics(),
        "kubectl describe": crds.kubectl("describe", "tunedmodels,tuningjobs", "-n", namespace).stdout,
        "emulator request log": json.dumps([r.to_json() for r in emulator.requests()]),
        "test output": captured.out + captured.err,
    }
    assert "PermissionDenied" in places["events"]  # the failures are there to be seen, the secrets are not
    assert '"level": "DEBUG"' in places["operator log"]  # the log really ran at every level
    sentinels = {
        "good API key": good_key,
        "bad API key": bad_key,
        "Kubernetes token": kube_token,
        # Any token of this run's identity, even cut short: the prefix is unique to the run.
        "Google access token prefix": proc.adc.token_prefix,
        **{f"Google access token {i}": token for i, token in enumerate(tokens)},
        **{f"Google {name}": value for name, value in proc.adc.secrets().items()},
    }
    leaks = _grep_all(sentinels, places)
    assert not leaks, leaks


def api_client_sanitize(event: Any) -> Any:
    return k8s.ApiClient().sanitize_for_serialization(event)


def _wait_for_code(emulator: Emulator, method: str, code: int, timeout: float = 60, count: int = 1) -> None:
    deadline = time.monotonic() + timeout
    while sum(r.status == code for r in emulator.requests(method)) < count:
        assert time.monotonic() < deadline, f"{method} never answered {code}"
        time.sleep(0.2)
