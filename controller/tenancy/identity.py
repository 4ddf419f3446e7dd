"""Every Google call made for a tenant is made as the tenant's service account.

The operator's own identity (Workload Identity on GKE, or whatever ADC finds) only mints the tenants' tokens,
through the IAM Credentials API (`generateAccessToken`, google-auth's impersonated credentials). Each identity
gets its own backend: its own client and credential (cached and refreshed before expiry under the client's
lock) and its own per-location poller and metrics reader, so one tenant's `tuningJobs.list` is made with that
tenant's token and its results never reach, or get adopted by, another tenant's resources. The poller is thus
keyed by (identity, project, location). Each observation records the service account in
`status.impersonatedServiceAccount`, so a tenant whose identity an admin changed shows the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from controller.api.conditions import Reason
from controller.external import CreateCheck, ExternalClient, JsonObject, Observation, Phase
from controller.google.auth import CLOUD_PLATFORM_SCOPE, CredentialsAuth

IAM_CREDENTIALS_URL = "https://iamcredentials.googleapis.com"
# The status field naming the service account a resource's calls are made as (an email, never a token).
IMPERSONATED_FIELD = "impersonatedServiceAccount"


def impersonated_auth(
    source: Any,
    target: str,
    *,
    iam_base_url: str | None = None,
    scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
    lifetime_seconds: int = 3600,
) -> CredentialsAuth:
    """A credential of `target`, minted from the `source` credential by IAM Credentials impersonation."""
    from google.auth import impersonated_credentials  # noqa: PLC0415 - keep import cost off CLI start

    base = (iam_base_url or IAM_CREDENTIALS_URL).rstrip("/")
    credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source,
        target_principal=target,
        target_scopes=list(scopes),
        lifetime=lifetime_seconds,
        iam_endpoint_override=f"{base}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
    )
    return CredentialsAuth(credentials)


def static_source(token: str) -> Any:
    """A source credential that is just a token (the operator's placeholder identity at an emulator)."""
    from google.oauth2 import credentials  # noqa: PLC0415

    return credentials.Credentials(token=token)  # type: ignore[no-untyped-call]


class IdentityBackends:
    """An `ExternalClient` that hands each resource to the backend of its tenant's identity.

    `make(identity)` builds a backend for a Google service account (None: the operator's own identity);
    it is called once per identity, on first use.
    """

    def __init__(
        self,
        make: Callable[[str | None], ExternalClient],
        identity_of: Callable[[JsonObject], str | None],
        noun: str,
        token_cap: Callable[[JsonObject], tuple[int, str] | None] | None = None,
    ) -> None:
        self._make = make
        self._identity_of = identity_of
        self._token_cap = token_cap
        self._backends: dict[str | None, ExternalClient] = {}
        self._lock = threading.Lock()
        self.noun = noun

    def backend_for(self, obj: JsonObject) -> ExternalClient:
        identity = self._identity_of(obj)
        with self._lock:
            backend = self._backends.get(identity)
            if backend is None:
                backend = self._backends[identity] = self._make(identity)
            return backend

    def observe(self, obj: JsonObject) -> Observation:
        backend = self.backend_for(obj)
        return self._recorded(obj, self._cap_tokens(backend, obj, backend.observe(obj)))

    def _recorded(self, obj: JsonObject, observation: Observation) -> Observation:
        """Say in status which service account the calls were made as (None removes it: our own)."""
        observation.status[IMPERSONATED_FIELD] = self._identity_of(obj)
        return observation

    def _cap_tokens(self, backend: ExternalClient, obj: JsonObject, observation: Observation) -> Observation:
        """Cancel a job whose billable tokens exceed its tenant's limit, and say so in its conditions.

        Derived from the job alone (its data statistics and the tenant), so a restart changes nothing; a job
        that succeeded before the statistics were seen is left as it is.
        """
        cap = self._token_cap(obj) if self._token_cap and observation.exists else None
        if cap is None or obj["metadata"].get("deletionTimestamp"):
            return observation
        limit, tenant = cap
        stats = observation.status.get("tuningDataStats") or (obj.get("status") or {}).get("tuningDataStats")
        tokens = (stats or {}).get("totalBillableTokenCount")
        if tokens is None or int(tokens) <= limit or observation.phase in (Phase.SUCCEEDED, Phase.FAILED):
            return observation
        if not observation.phase.terminal and observation.phase is not Phase.CANCELLING:
            backend.delete(obj, observation)  # the deletion policy's own cancel call
        observation.reason = Reason.POLICY_DENIED
        observation.message = (
            f"status.tuningDataStats.totalBillableTokenCount: {tokens} billable tokens is more than "
            f"TuningTenant '{tenant}' allows per job (limits.maxBillableTokensPerJob: {limit}); the job was "
            "cancelled"
        )
        return observation

    def check_before_create(self, obj: JsonObject) -> CreateCheck:
        return self.backend_for(obj).check_before_create(obj)

    def create(self, obj: JsonObject) -> Observation:
        return self._recorded(obj, self.backend_for(obj).create(obj))

    def update(self, obj: JsonObject, observation: Observation) -> Observation:
        return self._recorded(obj, self.backend_for(obj).update(obj, observation))

    def delete(self, obj: JsonObject, observation: Observation) -> bool:
        return self.backend_for(obj).delete(obj, observation)

    def orphan_on_delete(self, obj: JsonObject) -> bool:
        return self.backend_for(obj).orphan_on_delete(obj)

    def run_test_prompts(self, obj: JsonObject, observation: Observation) -> list[JsonObject]:
        return self.backend_for(obj).run_test_prompts(obj, observation)

    def forget(self, obj: JsonObject) -> None:
        self.backend_for(obj).forget(obj)
