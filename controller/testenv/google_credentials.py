"""Google credentials for an operator aimed at the emulator, made fresh for each run.

The operator gets its Google identity the way it does in production, through Application Default
Credentials (`GOOGLE_APPLICATION_CREDENTIALS`), from one of two files written here:

- a service-account key file (`type: service_account`) whose `token_uri` is the emulator's OAuth 2.0 token
  endpoint; its RSA key is generated per run and only the public half is registered with the emulator;
- an external-account configuration (`type: external_account`, Workload Identity Federation) whose
  `token_url` is the emulator's STS endpoint and whose subject token is an OIDC token signed by an issuer
  key generated per run.

google-auth then signs, exchanges and refreshes as it would against Google, and every access token the
operator sends was minted by the emulator for this run. `AdcCredentials.secrets()` lists the key material
and subject token, and `minted_tokens()` the access tokens, so a test can look for each one where no secret
may appear.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from controller.google.auth import StaticTokenAuth

if TYPE_CHECKING:
    from emulator.server import Emulator

SERVICE_ACCOUNT = "service-account"
EXTERNAL_ACCOUNT = "external-account"
KINDS = (SERVICE_ACCOUNT, EXTERNAL_ACCOUNT)
POOL_PROJECT_NUMBER = "123456789012"


@dataclass(frozen=True)
class AdcCredentials:
    """One ADC file and what a test needs to know about it."""

    kind: str
    path: Path
    #: Every access token minted for this identity starts with this (unique per run) prefix.
    token_prefix: str
    principal: str
    _secrets: tuple[str, ...]

    def env(self) -> dict[str, str]:
        return {"GOOGLE_APPLICATION_CREDENTIALS": str(self.path)}

    def secrets(self) -> dict[str, str]:
        """Name -> secret string, for leak checks: the key material or subject token in the file."""
        names = (
            ("private key id", "private key line")
            if self.kind == SERVICE_ACCOUNT
            else ("subject token", "subject token signature")
        )
        return {f"{names[min(i, 1)]} {i}": value for i, value in enumerate(self._secrets)}

    def __repr__(self) -> str:
        return f"AdcCredentials(kind={self.kind!r}, path={str(self.path)!r}, principal={self.principal!r})"


def write_adc_file(emulator_url: str, directory: Path, kind: str = SERVICE_ACCOUNT) -> AdcCredentials:
    """Register a new identity with the emulator at `emulator_url` and write its ADC file in `directory`."""
    if kind == SERVICE_ACCOUNT:
        return service_account_key_file(emulator_url, directory)
    if kind == EXTERNAL_ACCOUNT:
        return external_account_file(emulator_url, directory)
    raise ValueError(f"unknown credential kind {kind!r}; expected one of {', '.join(KINDS)}")


def service_account_key_file(
    emulator_url: str, directory: Path, *, project: str = "vertexops-test"
) -> AdcCredentials:
    run = uuid.uuid4().hex[:12]
    email = f"vertexops-{run}@{project}.iam.gserviceaccount.com"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    prefix = f"ya29.SENTINEL-sa-{run}"
    _control(
        emulator_url,
        "/oauth/service-accounts",
        {
            "clientEmail": email,
            "privateKeyId": key_id,
            "publicKeyPem": _public_pem(key),
            "tokenPrefix": prefix,
        },
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(int(run, 16)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{emulator_url.rstrip('/')}/token",
        "universe_domain": "googleapis.com",
    }
    path = _write_private(directory / f"service-account-{run}.json", json.dumps(info, indent=2))
    body_lines = tuple(line for line in private_pem.splitlines() if line and not line.startswith("-----"))
    return AdcCredentials(SERVICE_ACCOUNT, path, prefix, email, (key_id, *body_lines))


def external_account_file(emulator_url: str, directory: Path) -> AdcCredentials:
    run = uuid.uuid4().hex[:12]
    pool = f"projects/{POOL_PROJECT_NUMBER}/locations/global/workloadIdentityPools/vertexops-{run}"
    audience = f"//iam.googleapis.com/{pool}/providers/test-cluster"
    issuer = f"https://issuer.vertexops.test/{run}"
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    prefix = f"ya29.SENTINEL-wif-{run}"
    _control(
        emulator_url,
        "/oauth/providers",
        {
            "audience": audience,
            "issuer": issuer,
            "publicKeyPem": _public_pem(issuer_key),
            "tokenPrefix": prefix,
        },
    )
    now = int(time.time())
    subject = "system:serviceaccount:vertexops-system:vertexops"
    subject_token = sign_jwt(
        issuer_key,
        {"iss": issuer, "sub": subject, "aud": "https:" + audience, "iat": now, "exp": now + 12 * 3600},
        key_id=run,
    )
    token_path = _write_private(directory / f"subject-token-{run}.jwt", subject_token)
    config = {
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{emulator_url.rstrip('/')}/v1/token",
        "credential_source": {"file": str(token_path), "format": {"type": "text"}},
        "universe_domain": "googleapis.com",
    }
    path = _write_private(directory / f"external-account-{run}.json", json.dumps(config, indent=2))
    principal = f"principal://iam.googleapis.com/{pool}/subject/{subject}"
    return AdcCredentials(
        EXTERNAL_ACCOUNT, path, prefix, principal, (subject_token, subject_token.rsplit(".", 1)[1])
    )


def minted_tokens(emulator_url: str, prefix: str | None = None) -> list[str]:
    """The access tokens the emulator minted (for identities whose prefix is `prefix`, when given)."""
    tokens = _control(emulator_url, "/oauth/tokens")["tokens"]
    return [t["token"] for t in tokens if prefix is None or str(t["token"]).startswith(prefix)]


def inspector_auth(emulator: Emulator) -> StaticTokenAuth:
    """A token the in-process `emulator` accepts, for a test's own calls that look at what the operator did.

    Only the test holds it; the operator under test never sees it and authenticates through its ADC file.
    """
    token = f"ya29.test-inspector-{uuid.uuid4().hex}"
    emulator.state.oauth.issue(token, principal="user:test-inspector@vertexops.test")
    return StaticTokenAuth(token)


def sign_jwt(key: rsa.RSAPrivateKey, claims: dict[str, Any], key_id: str | None = None) -> str:
    """An RS256 JWT, as an OIDC issuer (here: a cluster's service-account issuer) signs its tokens."""
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", **({"kid": key_id} if key_id else {})}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _control(emulator_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"{emulator_url.rstrip('/')}/_emulator{path}"
    response = httpx.post(url, json=body, timeout=10) if body is not None else httpx.get(url, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(f"the emulator refused {path}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()
