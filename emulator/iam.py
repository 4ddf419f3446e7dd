"""Who is calling, and may they: the emulator's IAM model and the IAM Credentials API.

Principals are service-account emails. A bearer token maps to its principal: tokens registered for a
principal (the operator's own credential in a test), and tokens minted by
`iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{sa}:generateAccessToken`, which belong to the
impersonated service account. google-auth's `impersonated_credentials.Credentials` runs unmodified against it
(point `iam_endpoint_override` at the emulator).

Grants are plain sets, one per question Google's IAM answers for these APIs:
- `token_creators[sa]`: who holds `iam.serviceAccounts.getAccessToken` on `sa` (Service Account Token
  Creator);
- `project_users[project]`: who holds the `aiplatform.*` permissions on the project (roles/aiplatform.user);
- `act_as[sa]`: who may run a job as `sa` (`iam.serviceAccounts.actAs`, roles/iam.serviceAccountUser);
- `bucket_readers[bucket]`: who may read the bucket's objects (`storage.objects.get`);
- `bucket_writers[bucket]`: who may upload objects to it (`storage.objects.create`, emulator.storage).

Training data is read as the job's service account when it names one, otherwise as the caller (standing in
for the project's tuning service agent, which reads with the project's grants). Vertex refuses the create
when the data cannot be read.

Until the first grant is made the model is off and every call is allowed, as before; the request log still
records the principal of each call. Denials carry Google's error body: 403 PERMISSION_DENIED, the permission
named in the message and in an `ErrorInfo` with reason IAM_PERMISSION_DENIED.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from emulator.apierror import ApiError, invalid_argument
from emulator.oauth import bearer_token

# The longest lifetime generateAccessToken grants without the org policy that extends it to 12 hours.
MAX_LIFETIME_SECONDS = 3600


def _denied(permission: str, resource: str | None, domain: str) -> ApiError:
    where = f"resource '{resource}'" if resource else "resource"
    metadata = {"permission": permission}
    if resource:
        metadata["resource"] = resource.split(f"//{domain}/", 1)[-1]
    return ApiError(
        "PERMISSION_DENIED",
        f"Permission '{permission}' denied on {where} (or it may not exist).",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": domain,
                "metadata": metadata,
            }
        ],
    )


class Iam:
    def __init__(self, project_number: Any) -> None:
        self._project_number = project_number  # project ID -> number, as Vertex names carry it
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (principal, expiry; inf for registered)
        self.enabled = False
        self.token_creators: dict[str, set[str]] = defaultdict(set)
        self.project_users: dict[str, set[str]] = defaultdict(set)
        self.act_as: dict[str, set[str]] = defaultdict(set)
        self.bucket_readers: dict[str, set[str]] = defaultdict(set)
        self.bucket_writers: dict[str, set[str]] = defaultdict(set)

    # -- set-up ------------------------------------------------------------------------------------------

    def register_token(self, token: str, principal: str) -> None:
        """Say whose `token` is (an identity the test gives the operator, or one minted elsewhere)."""
        with self._lock:
            self._tokens[token] = (principal, float("inf"))

    def grant(
        self,
        principal: str,
        *,
        projects: tuple[str, ...] = (),
        impersonate: tuple[str, ...] = (),
        act_as: tuple[str, ...] = (),
        buckets: tuple[str, ...] = (),
        write_buckets: tuple[str, ...] = (),
    ) -> None:
        """Grant `principal` projects, impersonating and acting as service accounts, bucket reads, uploads."""
        with self._lock:
            self.enabled = True
            for project in projects:
                self.project_users[self._project_number(project)].add(principal)
            for account in impersonate:
                self.token_creators[account].add(principal)
            for account in act_as:
                self.act_as[account].add(principal)
            for bucket in buckets:
                self.bucket_readers[bucket].add(principal)
            for bucket in write_buckets:
                self.bucket_writers[bucket].add(principal)

    # -- asking ------------------------------------------------------------------------------------------

    def principal(self, token: str) -> str | None:
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def caller(self, headers: dict[str, str] | Any) -> str:
        """The principal of a request's bearer token; '' when it has none the model knows."""
        token = bearer_token(headers)
        return (self.principal(token) or "") if token else ""

    def require_known(self, principal: str, service: str) -> None:
        if self.enabled and not principal:
            raise ApiError(
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                        "domain": "googleapis.com",
                        "metadata": {"service": service},
                    }
                ],
            )

    def check_project(self, principal: str, permission: str, project: str, location: str) -> None:
        if not self.enabled:
            return
        self.require_known(principal, "aiplatform.googleapis.com")
        with self._lock:
            allowed = principal in self.project_users.get(self._project_number(project), ())
        if not allowed:
            resource = f"//aiplatform.googleapis.com/projects/{project}/locations/{location}"
            raise _denied(permission, resource, "aiplatform.googleapis.com")

    def check_create(self, principal: str, body: dict[str, Any]) -> None:
        """What tuningJobs.create needs beyond the project: acting as the job's account, reading the data."""
        if not self.enabled:
            return
        account = body.get("serviceAccount")
        with self._lock:
            if account and principal not in self.act_as.get(account, ()):
                raise _denied(
                    "iam.serviceAccounts.actAs",
                    f"//iam.googleapis.com/projects/-/serviceAccounts/{account}",
                    "iam.googleapis.com",
                )
            reader = account or principal
            spec: dict[str, Any] = next(
                (
                    body[key]
                    for key in (
                        "supervisedTuningSpec",
                        "supervised_tuning_spec",
                        "preferenceOptimizationSpec",
                        "preference_optimization_spec",
                    )
                    if isinstance(body.get(key), dict)
                ),
                {},
            )
            for key in ("trainingDatasetUri", "validationDatasetUri", "training_dataset_uri"):
                uri = spec.get(key)
                if not isinstance(uri, str) or not uri.startswith("gs://"):
                    continue
                bucket, _, obj = uri.removeprefix("gs://").partition("/")
                if reader not in self.bucket_readers.get(bucket, ()):
                    raise _denied(
                        "storage.objects.get",
                        f"//storage.googleapis.com/projects/_/buckets/{bucket}/objects/{obj}",
                        "storage.googleapis.com",
                    )

    # -- the IAM Credentials API -------------------------------------------------------------------------

    def generate_access_token(self, caller: str, account: str, body: dict[str, Any]) -> dict[str, Any]:
        """`projects.serviceAccounts.generateAccessToken`: a token of `account`, for a caller allowed to."""
        if self.enabled:
            self.require_known(caller, "iamcredentials.googleapis.com")
            with self._lock:
                allowed = caller in self.token_creators.get(account, ())
            if not allowed:
                raise _denied("iam.serviceAccounts.getAccessToken", None, "iam.googleapis.com")
        if body.get("delegates"):
            raise invalid_argument("Delegation chains are not supported by this emulator.", "delegates")
        scopes = body.get("scope")
        if not isinstance(scopes, list) or not scopes:
            raise invalid_argument("Scope is required.", "scope")
        lifetime = _seconds(body.get("lifetime", "3600s"))
        if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
            raise invalid_argument(
                f"The lifetime must be between 1s and {MAX_LIFETIME_SECONDS}s; got {body.get('lifetime')}.",
                "lifetime",
            )
        token = "ya29.emulated-" + secrets.token_urlsafe(24)
        expiry = time.time() + lifetime
        with self._lock:
            self._tokens[token] = (account, expiry)
        # Whole seconds, as the real API answers and as google-auth parses it.
        expire = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"accessToken": token, "expireTime": expire}


def _seconds(text: Any) -> float:
    if isinstance(text, str) and text.endswith("s"):
        try:
            return float(text[:-1])
        except ValueError:
            pass
    raise invalid_argument(
        f"Invalid duration {text!r}: expected a number of seconds such as '3600s'.", "lifetime"
    )
