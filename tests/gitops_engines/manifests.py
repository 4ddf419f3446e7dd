"""What the tests commit to Git and apply: TuningJobs, and the project's own examples, pointed at the test's
repository and namespace the way a user edits them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from controller.api.resource import GROUP, VERSION

ROOT = Path(__file__).resolve().parents[2]
ARGOCD_EXAMPLES = ROOT / "manifests" / "argocd"
FLUX_EXAMPLES = ROOT / "manifests" / "flux"


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def tuning_job(name: str, publish: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://vertexops-test/train.jsonl",
            "validationDatasetUri": "gs://vertexops-test/validation.jsonl",
            "hyperParameters": {"epochCount": 2, "adapterSize": "ADAPTER_SIZE_FOUR"},
        },
        "tunedModelDisplayName": name,
    }
    if publish:
        body["publish"] = {"configMapName": publish}
    body.update(spec)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TuningJob", "metadata": {"name": name}, "spec": body}


def tuning_application(
    name: str, repo_url: str, namespace: str, *, path: str = "tuning", prune: bool = False
) -> dict[str, Any]:
    """`manifests/argocd/tuning-application.yaml` as a user adapts it: their repository and namespace."""
    [app] = load_all(ARGOCD_EXAMPLES / "tuning-application.yaml")
    app = copy.deepcopy(app)
    app["metadata"]["name"] = name
    app["spec"]["source"].update({"repoURL": repo_url, "targetRevision": "main", "path": path})
    app["spec"]["destination"]["namespace"] = namespace
    app["spec"]["syncPolicy"]["automated"]["prune"] = prune
    return app
