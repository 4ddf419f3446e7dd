"""`vertexops run`: the operator process, in a cluster or against a kubeconfig.

Wiring only: configuration -> Kubernetes client -> Google clients (their calls counted in the metrics) ->
one backend and one generic reconciler per kind -> the manager, which runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import logging

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from controller import config as operator_config
from controller.api.resource import GROUP, VERSION
from controller.api.tunedmodel import TUNED_MODEL
from controller.api.tuningjob import TUNING_JOB
from controller.api.tuningtenant import TUNING_TENANT
from controller.backends.dependencies import referenced_jobs
from controller.backends.gemini_clients import GeminiClients
from controller.backends.kube_refs import api_reader
from controller.backends.tunedmodel import TunedModelBackend, TunedModelSettings
from controller.backends.tuningjob import TuningJobBackend
from controller.config import OperatorConfig
from controller.google.auth import CLOUD_PLATFORM_SCOPE, Auth, application_default_auth
from controller.google.gemini import TUNING_SCOPE, GeminiClient
from controller.google.retry import RetryPolicy
from controller.google.storage import StorageClient
from controller.google.vertex import VertexClient
from controller.preflight import DatasetPreflight
from controller.reconciler import Reconciler
from controller.runtime.kubeapi import CONFIGMAPS, JsonObject, ResourceRef
from controller.runtime.log import setup_logging
from controller.runtime.manager import Manager
from controller.runtime.mapping import map_by_reference, map_to_owner
from controller.runtime.metrics import Metrics
from controller.runtime.predicates import ignore_status_only_updates
from controller.tenancy import Tenancy
from controller.tenancy.identity import IdentityBackends, impersonated_auth
from controller.tenancy.status import TenantStatusReconciler

log = logging.getLogger(__name__)

ADC_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"

TUNINGJOBS = ResourceRef(GROUP, VERSION, TUNING_JOB.plural)
TUNEDMODELS = ResourceRef(GROUP, VERSION, TUNED_MODEL.plural)
TUNINGTENANTS = ResourceRef(GROUP, VERSION, TUNING_TENANT.plural, namespaced=False)
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
# Only the ConfigMaps the operator publishes are cached, not every ConfigMap in the cluster.
PUBLISHED_SELECTOR = "app.kubernetes.io/managed-by=vertexops"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    operator_config.add_arguments(parser)


def kubernetes_client(cfg: OperatorConfig) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    if cfg.kubeconfig:
        k8s_config.load_kube_config(config_file=cfg.kubeconfig, client_configuration=configuration)
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)
    # One connection per worker of each kind, plus the watches and the other loops: the client's default
    # (5 per core) would make most workers open a new TLS connection for each request.
    configuration.connection_pool_maxsize = 2 * cfg.runtime.workers + 16
    return k8s.ApiClient(configuration)


def google_auth(cfg: OperatorConfig) -> Auth:
    """ADC (optionally impersonating), also when aimed at an emulator: it mints tokens as Google does."""
    return application_default_auth(impersonate_service_account=cfg.impersonate_service_account)


def tenant_auth(cfg: OperatorConfig, identity: str) -> Auth:
    """The tenant's service account, impersonated from the operator's own identity (its ADC)."""
    source = application_default_auth(impersonate_service_account=cfg.impersonate_service_account).credentials
    return impersonated_auth(source, identity, iam_base_url=cfg.iam_base_url)


def gemini_auth(cfg: OperatorConfig) -> Auth:
    """The operator's own credential for the Gemini API (resources without apiKeySecretRef use it)."""
    return application_default_auth(
        scopes=(CLOUD_PLATFORM_SCOPE, TUNING_SCOPE),
        impersonate_service_account=cfg.impersonate_service_account,
    )


def build_manager(cfg: OperatorConfig, api_client: k8s.ApiClient) -> Manager:
    metrics = Metrics()
    manager = Manager(api_client, cfg.runtime, metrics=metrics)

    def vertex_client(auth: Auth | None) -> VertexClient:
        return VertexClient(
            auth=auth,
            base_url=cfg.vertex_base_url,
            timeout=cfg.google_timeout_seconds,
            retry=RetryPolicy(),
            observer=metrics.observe_google_call,
        )

    def storage_client(auth: Auth) -> StorageClient:
        return StorageClient(
            auth=auth,
            base_url=cfg.storage_base_url,
            timeout=cfg.google_timeout_seconds,
            retry=RetryPolicy(),
            observer=metrics.observe_google_call,
        )

    def tuning_job_backend(identity: str | None) -> TuningJobBackend:
        """One identity's backend: its Vertex calls and its dataset reads share one credential."""
        auth = operator_auth if identity is None else tenant_auth(cfg, identity)
        client = vertex if identity is None else vertex_client(auth)
        preflight = DatasetPreflight(storage_client(auth), cfg.preflight)
        return TuningJobBackend(
            client, cfg.vertex, tenancy=tenancy, preflight=preflight, jobs=cached_tuning_job
        )

    def cached_tuning_job(namespace: str, name: str) -> JsonObject | None:
        return manager.informer(TUNINGJOBS).store.get(f"{namespace}/{name}")

    operator_auth = google_auth(cfg)
    vertex = vertex_client(operator_auth)
    tenancy = Tenancy(
        manager.informer(TUNINGTENANTS).store,
        manager.informer(NAMESPACES).store,
        manager.informer(TUNINGJOBS).store,
        strict=cfg.tenancy_strict,
        default_project=cfg.vertex.default_project,
        default_location=cfg.vertex.default_location,
    )
    tuning_jobs = Reconciler(
        TUNING_JOB.kind,
        TUNINGJOBS,
        IdentityBackends(
            tuning_job_backend,
            tenancy.identity_of,
            noun="tuning job",
            token_cap=tenancy.token_cap,
        ),
        api=manager.api,
        store=manager.informer(TUNINGJOBS).store,
        events=manager.events,
        metrics=metrics,
        settings=cfg.reconciler,
        admit=tenancy.admit,
        may_create=tenancy.may_create,
    )
    manager.add_controller(TUNING_JOB.kind, TUNINGJOBS, tuning_jobs, predicate=ignore_status_only_updates)
    watch_tenancy(manager, tenancy)
    # A TuningJob that changes (becomes Ready, fails, is re-created) wakes the jobs tuning on from it.
    manager.watch(
        TUNINGJOBS,
        kind=TUNING_JOB.kind,
        map_fn=map_by_reference(manager.informer(TUNINGJOBS).store, referenced_jobs),
    )
    manager.watch(
        CONFIGMAPS,
        kind=TUNING_JOB.kind,
        map_fn=map_to_owner(GROUP, TUNING_JOB.kind),
        label_selector=PUBLISHED_SELECTOR,
    )

    def gemini_client(auth: Auth | None) -> GeminiClient:
        # Built on first use: an operator that only ever uses API keys needs no Google identity of its own.
        return GeminiClient(
            auth=auth or gemini_auth(cfg),
            base_url=cfg.gemini_base_url,
            timeout=cfg.google_timeout_seconds,
            retry=RetryPolicy(),
            observer=metrics.observe_google_call,
        )

    tuned_models = Reconciler(
        TUNED_MODEL.kind,
        TUNEDMODELS,
        TunedModelBackend(
            GeminiClients(gemini_client),
            api_reader(manager.api),
            TunedModelSettings(cfg.vertex.poll_min_seconds, cfg.vertex.poll_max_seconds),
        ),
        api=manager.api,
        store=manager.informer(TUNEDMODELS).store,
        events=manager.events,
        metrics=metrics,
        settings=cfg.reconciler,
        admit=tenancy.admit,
    )
    manager.add_controller(TUNED_MODEL.kind, TUNEDMODELS, tuned_models, predicate=ignore_status_only_updates)
    return manager


def watch_tenancy(manager: Manager, tenancy: Tenancy) -> None:
    """Wake the TuningJobs a change can let through (a tenant or namespace edited, a place freed), and
    keep each tenant's status (namespaces, usage) current."""
    tenants = TenantStatusReconciler(tenancy, manager.api, TUNINGTENANTS)
    manager.add_controller(
        TUNING_TENANT.kind, TUNINGTENANTS, tenants, workers=1, predicate=ignore_status_only_updates
    )
    every_tenant = lambda _obj: [t["metadata"]["name"] for t in tenancy.tenants.list()]  # noqa: E731
    manager.watch(NAMESPACES, kind=TUNING_TENANT.kind, map_fn=every_tenant)
    manager.watch(
        TUNINGJOBS,
        kind=TUNING_TENANT.kind,
        map_fn=lambda job: tenants.tenants_of_namespace(job["metadata"]["namespace"]),
    )
    manager.watch(TUNINGTENANTS, kind=TUNING_JOB.kind, map_fn=tenancy.keys_for_tenant)
    manager.watch(
        NAMESPACES,
        kind=TUNING_JOB.kind,
        map_fn=lambda ns: tenancy.pending_keys(ns["metadata"]["name"]),
    )
    manager.watch(
        TUNINGJOBS,
        kind=TUNING_JOB.kind,
        map_fn=lambda job: tenancy.waiting_keys(job["metadata"]["namespace"]),
    )


def run(args: argparse.Namespace) -> int:
    cfg = operator_config.from_args(args)
    setup_logging(cfg.runtime.log_format, cfg.runtime.log_level)
    api_client = kubernetes_client(cfg)
    manager = build_manager(cfg, api_client)
    for warning in cfg.warnings():
        log.warning(warning)
    log.info(
        "vertexops starting",
        extra={
            "namespaces": list(cfg.runtime.namespaces) or "all",
            "project": cfg.vertex.default_project,
            "location": cfg.vertex.default_location,
            "vertex_base_url": cfg.vertex_base_url or "regional hosts",
            "leader_election": cfg.runtime.leader_election,
            "tenancy_strict": cfg.tenancy_strict,
            "preflight_default": cfg.preflight.default_mode.value,
        },
    )
    return manager.run()
