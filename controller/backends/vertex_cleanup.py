"""deletionPolicy Delete: remove what a finished tuning job left behind, its Endpoints and its tuned Model.

Vertex AI keeps a succeeded job's Model in the Model Registry and deploys it to an Endpoint (one per kept
checkpoint that has one); deleting the TuningJob resource with policy Delete removes them, in the order
Vertex AI requires: undeploy every DeployedModel from an Endpoint, delete the Endpoint, then delete the
Model (a deployed Model cannot be deleted). Each of these calls starts a long-running operation.

Level-triggered like the rest of the reconciler: each pass reads what still exists and starts the next step
for it, so a restart in the middle loses nothing. A resource that is still there is either waiting for its
operation or for its turn; the step is done when the resource is gone (an operation's completion is what
makes it disappear), so the finalizer stays until every read answers NOT_FOUND. Starting a step twice is
harmless: Vertex answers NOT_FOUND (already undeploying or deleting) or FAILED_PRECONDITION (an undeploy not
finished yet), both of which mean "wait".

Only a Model this job created is deleted: `…/models/M@1`. A continuous-tuning job whose result is a later
version of an existing Model leaves that Model alone (deleting it would delete the versions it was tuned
from); the message says so.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from controller.external import JsonObject
from controller.google.errors import FailedPreconditionError, NotFoundError
from controller.google.vertex import VertexClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanupProgress:
    """Whether everything is gone (`done`), and what the pass did or waits for, for the condition message."""

    done: bool
    message: str
    kept_model: str | None = None


def endpoints_of(tuned_model: JsonObject) -> list[str]:
    """Every Endpoint status names: the default one and each checkpoint's, without repeats."""
    names = [tuned_model.get("endpoint")] + [c.get("endpoint") for c in tuned_model.get("checkpoints") or []]
    return list(dict.fromkeys(name for name in names if name))


def remove_outputs(client: VertexClient, tuned_model: JsonObject) -> CleanupProgress:
    """One pass of the clean-up over `status.tunedModel`; call again until `done`."""
    remaining = [e for e in endpoints_of(tuned_model) if not _endpoint_removed(client, e)]
    if remaining:
        return CleanupProgress(
            False, f"deleting: undeploying and deleting endpoint(s) {', '.join(remaining)}"
        )
    model = str(tuned_model.get("model") or "")
    if not model:
        return CleanupProgress(True, "deleted: the job left no model")
    base, _, version = model.partition("@")
    if version and version != "1":
        return CleanupProgress(
            True,
            f"deleted the endpoints; kept model {model}: it is a later version of a model this job did not "
            "create (continuous tuning), and deleting the model would delete its earlier versions",
            kept_model=model,
        )
    if _model_removed(client, base):
        return CleanupProgress(True, f"deleted endpoint(s) and model {base}")
    return CleanupProgress(False, f"deleting: model {base}")


def _endpoint_removed(client: VertexClient, endpoint: str) -> bool:
    """Start the next step for `endpoint`; True once it no longer exists."""
    try:
        found = client.get_endpoint(endpoint)
    except NotFoundError:
        return True
    deployed = [d for d in found.get("deployedModels") or [] if isinstance(d, dict) and d.get("id")]
    try:
        if deployed:
            for model in deployed:
                client.undeploy_model(endpoint, str(model["id"]))
        else:
            client.delete_endpoint(endpoint)
    except (NotFoundError, FailedPreconditionError) as err:  # already under way, or an undeploy unfinished
        log.info("waiting for the removal of %s: %s", endpoint, err.message)
    return False


def _model_removed(client: VertexClient, model: str) -> bool:
    try:
        client.get_model(model)
    except NotFoundError:
        return True
    with contextlib.suppress(NotFoundError):  # NOT_FOUND here: a delete is under way
        client.delete_model(model)
    return False
