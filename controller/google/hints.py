"""What to tell a user whose call was refused for want of a permission or a credential.

A bare "403 PERMISSION_DENIED" sends people searching; naming the IAM permission, the role that holds it and
the project it is needed on lets them fix it in one step.
"""

from __future__ import annotations

import re

from controller.google.errors import GoogleAPIError, PermissionDeniedError, UnauthenticatedError
from controller.google.transport import Hint as HintFn

# client method -> IAM permission it needs. All are in roles/aiplatform.user.
VERTEX_PERMISSIONS: dict[str, str] = {
    "tuningJobs.create": "aiplatform.tuningJobs.create",
    "tuningJobs.get": "aiplatform.tuningJobs.get",
    "tuningJobs.list": "aiplatform.tuningJobs.list",
    "tuningJobs.cancel": "aiplatform.tuningJobs.cancel",
    "endpoints.generateContent": "aiplatform.endpoints.predict",
    "endpoints.streamGenerateContent": "aiplatform.endpoints.predict",
    "contexts.get": "aiplatform.contexts.get",
    "contexts.list": "aiplatform.contexts.list",
    "tensorboardTimeSeries.list": "aiplatform.tensorboardTimeSeries.list",
    "tensorboards.batchRead": "aiplatform.tensorboardTimeSeries.read",
}

_PROJECT_RE = re.compile(r"projects/([^/]+)")


def _project_of(resource: str) -> str:
    match = _PROJECT_RE.search(resource)
    return f"project {match.group(1)}" if match else "the project"


def vertex_hint(auth_kind: str) -> HintFn:
    """The hint function for Vertex AI calls made with credentials of kind `auth_kind`."""

    def hint(cls: type[GoogleAPIError], status: str, method: str, resource: str) -> str:
        if issubclass(cls, UnauthenticatedError):
            return _credential_hint(auth_kind, "Vertex AI")
        if issubclass(cls, PermissionDeniedError):
            permission = VERTEX_PERMISSIONS.get(method, f"aiplatform.{method}")
            text = (
                f"The operator's Google service account needs the IAM permission {permission} on "
                f"{_project_of(resource)}: grant it roles/aiplatform.user (or a custom role with that "
                "permission), and check that the Vertex AI API (aiplatform.googleapis.com) is enabled"
            )
            if method == "tuningJobs.create":
                text += (
                    "; when the job names a serviceAccount, the operator also needs "
                    "iam.serviceAccounts.actAs on it (roles/iam.serviceAccountUser)"
                )
            return text
        return ""

    return hint


def gemini_hint(auth_kind: str) -> HintFn:
    """The hint function for Gemini API calls made with credentials of kind `auth_kind`."""

    def hint(cls: type[GoogleAPIError], status: str, method: str, resource: str) -> str:
        if issubclass(cls, UnauthenticatedError):
            return _credential_hint(auth_kind, "the Gemini API")
        if issubclass(cls, PermissionDeniedError):
            if auth_kind == "api-key":
                return (
                    f"The Gemini API key may not call {method}: check that the key is not restricted away "
                    "from the Generative Language API (generativelanguage.googleapis.com), that the API is "
                    "enabled in the key's project, and that the tuned model belongs to that project"
                )
            return (
                f"The operator's Google identity may not call {method}: with OAuth the token needs the "
                "scopes https://www.googleapis.com/auth/cloud-platform and "
                "https://www.googleapis.com/auth/generative-language.tuning, and the Generative Language API "
                "must be enabled in the quota project"
            )
        return ""

    return hint


def _credential_hint(auth_kind: str, api_name: str) -> str:
    if auth_kind == "api-key":
        return (
            f"The API key sent to {api_name} is missing, invalid or expired: set a valid key in the "
            "operator's Gemini API key Secret"
        )
    if auth_kind == "adc":
        return (
            f"No valid Google credential reached {api_name}: the operator uses Application Default "
            "Credentials (Workload Identity on GKE binding its Kubernetes service account to a Google "
            "service account, or GOOGLE_APPLICATION_CREDENTIALS naming a key file); check that they are "
            "configured and carry the https://www.googleapis.com/auth/cloud-platform scope"
        )
    if auth_kind == "none":
        return (
            f"The client sent no credential to {api_name}: configure Application Default Credentials or a key"
        )
    return f"The static token sent to {api_name} was rejected"
