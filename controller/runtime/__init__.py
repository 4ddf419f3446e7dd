"""A small controller runtime on the official `kubernetes` client: informers, work queues, leader election,
events, metrics and the manager that runs them. It knows nothing about Vertex AI or our kinds.

The names below are the public interface; the modules hold the details.
"""

from controller.runtime.config import RuntimeConfig
from controller.runtime.events import EventRecorder
from controller.runtime.informer import EventType, Informer
from controller.runtime.kubeapi import CONFIGMAPS, LEASES, SECRETS, ApiError, KubeApi, ResourceRef
from controller.runtime.leader import LeaderElector
from controller.runtime.log import log_context, setup_logging
from controller.runtime.manager import Manager, Result
from controller.runtime.mapping import map_by_reference, map_to_owner
from controller.runtime.metrics import METRICS, MetricDefinition, Metrics
from controller.runtime.store import Store, object_key, split_key, strip_for_cache
from controller.runtime.workqueue import ExponentialBackoff, WorkQueue

__all__ = [
    "CONFIGMAPS",
    "LEASES",
    "METRICS",
    "SECRETS",
    "ApiError",
    "EventRecorder",
    "EventType",
    "ExponentialBackoff",
    "Informer",
    "KubeApi",
    "LeaderElector",
    "Manager",
    "MetricDefinition",
    "Metrics",
    "ResourceRef",
    "Result",
    "RuntimeConfig",
    "Store",
    "WorkQueue",
    "log_context",
    "map_by_reference",
    "map_to_owner",
    "object_key",
    "setup_logging",
    "split_key",
    "strip_for_cache",
]
