"""A tiny operator process for the SIGTERM test: one ConfigMap controller whose reconcile takes a while.

Usage: python manager_process.py KUBECONFIG NAMESPACE SECONDS

Prints `start <key>` and `end <key>` around each reconcile (flushed, so the test sees them as they happen)
and exits with `Manager.run()`'s exit code.
"""

from __future__ import annotations

import sys
import time

from kubernetes import config as k8s_config

from controller.runtime import CONFIGMAPS, Manager, Result, RuntimeConfig, setup_logging


def main() -> int:
    kubeconfig, namespace, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    setup_logging("text", "INFO")
    config = RuntimeConfig(
        namespaces=(namespace,),
        bind_address="127.0.0.1",
        http_port=0,
        lease_namespace=namespace,
        lease_name="sigterm-test",
        lease_duration_seconds=2,
        renew_deadline_seconds=1.5,
        retry_period_seconds=0.2,
        workers=1,
    )
    manager = Manager(k8s_config.new_client_from_config(config_file=kubeconfig), config)

    def reconcile(kind: str, key: str) -> Result:
        print(f"start {key}", flush=True)
        time.sleep(seconds)
        print(f"end {key}", flush=True)
        return Result()

    manager.add_controller("ConfigMap", CONFIGMAPS, reconcile)
    return manager.run()


if __name__ == "__main__":
    sys.exit(main())
