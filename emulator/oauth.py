"""Google's token endpoints, so a client gets its access tokens the way it does from Google.

Two grants are served, with the request and response shapes of Google's endpoints:

- the OAuth 2.0 token endpoint (`oauth2.googleapis.com/token`, here `POST /token`) with the JWT-bearer grant
  a service-account key file uses: the client signs an assertion (RS256, `iss` the account's e-mail, `aud`
  Google's token URI, `kid` the key id) and gets an access token back;
- the Security Token Service (`sts.googleapis.com/v1/token`, here `POST /v1/token`) with the token-exchange
  grant of Workload Identity Federation: the client hands over an OIDC token from its own issuer and the
  audience of a workload identity pool provider, and gets a federated access token back.

Only identities the test registered (through the control API, `/_emulator/oauth/...`, or `OAuthState`) can
get a token: a service account by its public key, a provider by its issuer's public key. Every access token
is minted here, is unique, and starts with the prefix its identity was registered with, so a test knows each
token as a sentinel and can look for it wherever a secret must not appear. The API routes accept only tokens
minted here (or listed explicitly in the settings), as Google accepts only tokens it issued.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

#: The audience Google requires in a service account's JWT assertion, whatever URL the assertion is sent to.
# These are URLs and protocol names, not secrets.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105
OAUTH_TOKEN_PATH = "/token"  # noqa: S105
STS_TOKEN_PATH = "/v1/token"  # noqa: S105
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token")
#: Google refuses assertions whose lifetime is longer than an hour.
MAX_ASSERTION_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300
TOKEN_LIFETIME_SECONDS = 3599


def bearer_token(headers: Any) -> str:
    """The token of an `Authorization: Bearer ...` header (any case of the scheme), or ''."""
    authorization = str(headers.get("authorization", ""))
    return authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""


class OAuthError(Exception):
    """An RFC 6749 error answer: `{"error": ..., "error_description": ...}` with HTTP 400 (or 401)."""

    def __init__(self, error: str, description: str, http_status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.http_status = http_status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    token_prefix: str


@dataclass(frozen=True)
class Provider:
    """A workload identity pool provider: tokens of `issuer`, signed by `public_key`, for `audience`."""

    audience: str
    issuer: str
    public_key: rsa.RSAPublicKey
    token_prefix: str
    allowed_audiences: tuple[str, ...]


@dataclass(frozen=True)
class MintedToken:
    token: str
    principal: str
    scopes: tuple[str, ...]
    expires_at: float
    grant: str


@dataclass
class OAuthState:
    """Registered identities and the tokens minted for them. Thread-safe; survives `EmulatorState.reset`."""

    service_accounts: dict[tuple[str, str], ServiceAccount] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    _tokens: dict[str, MintedToken] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- registration ----------------------------------------------------------------------------------

    def add_service_account(
        self,
        email: str,
        key_id: str,
        public_key_pem: str,
        token_prefix: str = "ya29.emulated",  # noqa: S107 - a prefix, not a token
    ) -> ServiceAccount:
        account = ServiceAccount(email, key_id, _public_key(public_key_pem), token_prefix)
        with self._lock:
            self.service_accounts[(email, key_id)] = account
        return account

    def add_provider(
        self,
        audience: str,
        issuer: str,
        public_key_pem: str,
        token_prefix: str = "ya29.federated",  # noqa: S107 - a prefix, not a token
        allowed_audiences: tuple[str, ...] = (),
    ) -> Provider:
        provider = Provider(
            audience,
            issuer,
            _public_key(public_key_pem),
            token_prefix,
            # Google's default: the provider's full resource name, as `https://iam.googleapis.com/...`.
            allowed_audiences or ("https:" + audience, audience),
        )
        with self._lock:
            self.providers[audience] = provider
        return provider

    # -- tokens ------------------------------------------------------------------------------------------

    def mint(
        self,
        principal: str,
        scopes: tuple[str, ...],
        prefix: str,
        grant: str,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
    ) -> MintedToken:
        """A new access token for `principal` (also for other emulator modules that issue tokens)."""
        minted = MintedToken(
            f"{prefix}-{secrets.token_urlsafe(24)}", principal, scopes, time.time() + lifetime, grant
        )
        with self._lock:
            self._tokens[minted.token] = minted
        return minted

    def issue(
        self, token: str, principal: str = "user:test@example.com", lifetime: int = 24 * 3600
    ) -> MintedToken:
        """Accept the fixed bearer `token` as if it had been minted here: for tests of raw HTTP calls."""
        minted = MintedToken(token, principal, (), time.time() + lifetime, "issued")
        with self._lock:
            self._tokens[token] = minted
        return minted

    def lookup(self, token: str) -> MintedToken | None:
        """The minted token `token` (or a valid self-signed JWT), None when unknown here or expired."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None and token.count(".") == 2:
            return self.self_signed(token)
        if found is None or found.expires_at <= time.time():
            return None
        return found

    def self_signed(self, token: str) -> MintedToken | None:
        """A service account's self-signed JWT used directly as the bearer token, or None.

        Google's "service account authorization without OAuth" (developers.google.com/identity/protocols/
        oauth2/service-account#jwt-auth): the key signs an RS256 JWT with `kid` = the key id, `iss` = `sub` =
        the account's e-mail, either `aud` = the API's URL (`https://aiplatform.googleapis.com/`) or a
        `scope` claim, and at most an hour between `iat` and `exp`. google-auth sends one instead of asking
        the token endpoint when the client library sets `always_use_jwt_access` (google-api-core clients
        such as google-cloud-aiplatform do).
        """
        try:
            header, claims = _jwt_parts(token)
            with self._lock:
                account = self.service_accounts.get((str(claims.get("iss", "")), str(header.get("kid", ""))))
            if account is None or claims.get("sub") != account.email:
                return None
            _verify(token, account.public_key, "Invalid JWT Signature.")
            _check_times(claims, max_lifetime=MAX_ASSERTION_SECONDS)
        except OAuthError:
            return None
        scopes = tuple(str(claims.get("scope", "")).split())
        audience = str(claims.get("aud", ""))
        if not scopes and not audience.startswith("https://"):
            return None
        return MintedToken(token, account.email, scopes, float(claims["exp"]), "self-signed-jwt")

    def minted(self) -> list[MintedToken]:
        with self._lock:
            return list(self._tokens.values())

    def clear(self) -> None:
        with self._lock:
            self.service_accounts.clear()
            self.providers.clear()
            self._tokens.clear()

    # -- grants ------------------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        """`POST /token`: the JWT-bearer grant of a service-account key."""
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_BEARER:
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion", "")
        if not assertion:
            raise OAuthError("invalid_request", "Missing required parameter: assertion")
        header, claims = _jwt_parts(assertion)
        with self._lock:
            account = self.service_accounts.get((str(claims.get("iss", "")), str(header.get("kid", ""))))
            if account is None:  # a key id Google does not know for this account
                known = any(email == claims.get("iss") for email, _ in self.service_accounts)
        if account is None:
            raise OAuthError(
                "invalid_grant", "Invalid JWT Signature." if known else "Invalid grant: account not found"
            )
        _verify(assertion, account.public_key, "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_URI:
            raise OAuthError(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI}",
            )
        _check_times(claims, max_lifetime=MAX_ASSERTION_SECONDS)
        scopes = tuple(str(claims.get("scope", "")).split())
        if not scopes:
            raise OAuthError("invalid_scope", "Invalid oauth scope or ID token audience provided.")
        minted = self.mint(account.email, scopes, account.token_prefix, "jwt-bearer")
        return {"access_token": minted.token, "expires_in": TOKEN_LIFETIME_SECONDS, "token_type": "Bearer"}

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        """`POST /v1/token`: STS token exchange of an external identity's OIDC token."""
        if form.get("grant_type") != TOKEN_EXCHANGE:
            raise OAuthError("invalid_request", f"Invalid value for grant_type: {form.get('grant_type', '')}")
        if form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            raise OAuthError(
                "invalid_request",
                f"Invalid value for requested_token_type: {form.get('requested_token_type', '')}",
            )
        if form.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
            raise OAuthError(
                "invalid_request",
                f"Invalid value for subject_token_type: {form.get('subject_token_type', '')}",
            )
        audience = form.get("audience", "")
        with self._lock:
            provider = self.providers.get(audience)
        if provider is None:
            raise OAuthError(
                "invalid_target", 'The target service indicated by the "audience" parameters is invalid.'
            )
        subject = form.get("subject_token", "")
        if not subject:
            raise OAuthError("invalid_request", "Missing required parameter: subject_token")
        _header, claims = _jwt_parts(subject, what="ID Token")
        _verify(subject, provider.public_key, "Invalid ID Token signature.")
        if claims.get("iss") != provider.issuer:
            raise OAuthError(
                "invalid_grant",
                f"The issuer in ID Token {claims.get('iss')} does not match the expected ones.",
            )
        token_audiences = claims.get("aud")
        audiences = token_audiences if isinstance(token_audiences, list) else [token_audiences]
        if not set(map(str, audiences)) & set(provider.allowed_audiences):
            raise OAuthError(
                "invalid_grant",
                f"The audience in ID Token [{', '.join(map(str, audiences))}] does not match the expected "
                "audience.",
            )
        _check_times(claims, max_lifetime=None)
        scopes = tuple(form.get("scope", "").split())
        pool = audience.split("/providers/")[0].removeprefix("//iam.googleapis.com/")
        principal = f"principal://iam.googleapis.com/{pool}/subject/{claims.get('sub', '')}"
        minted = self.mint(principal, scopes, provider.token_prefix, "token-exchange")
        return {
            "access_token": minted.token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
        }

    # -- control API -------------------------------------------------------------------------------------

    def control(self, http_method: str, path: str, body: dict[str, Any]) -> Any:
        """`/_emulator/oauth/...`: register identities, list minted tokens, forget everything."""
        if path == "/service-accounts" and http_method == "POST":
            account = self.add_service_account(
                _required(body, "clientEmail"),
                _required(body, "privateKeyId"),
                _required(body, "publicKeyPem"),
                str(body.get("tokenPrefix") or "ya29.emulated"),
            )
            return {"clientEmail": account.email, "privateKeyId": account.key_id}
        if path == "/providers" and http_method == "POST":
            provider = self.add_provider(
                _required(body, "audience"),
                _required(body, "issuer"),
                _required(body, "publicKeyPem"),
                str(body.get("tokenPrefix") or "ya29.federated"),
                tuple(body.get("allowedAudiences") or ()),
            )
            return {"audience": provider.audience, "issuer": provider.issuer}
        if path == "/tokens" and http_method == "POST":
            # A fixed token a harness in another process uses for its own look at what the operator did.
            issued = self.issue(_required(body, "token"), str(body.get("principal") or "user:inspector@test"))
            return {"token": issued.token, "principal": issued.principal}
        if path == "/tokens" and http_method == "GET":
            # The emulator's own test hook: which tokens it minted, so a test can look for each one.
            return {
                "tokens": [
                    {"token": t.token, "principal": t.principal, "grant": t.grant, "scopes": list(t.scopes)}
                    for t in self.minted()
                ]
            }
        if path == "" and http_method == "DELETE":
            self.clear()
            return {}
        raise ValueError(f"no OAuth control endpoint {http_method} /_emulator/oauth{path}")


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is required")
    return value


def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("publicKeyPem must be an RSA public key")
    return key


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jwt_parts(token: str, what: str = "JWT") -> tuple[dict[str, Any], dict[str, Any]]:
    pieces = token.split(".")
    if len(pieces) != 3:
        raise OAuthError("invalid_grant", f"Invalid {what}: wrong number of segments.")
    try:
        header = json.loads(_b64decode(pieces[0]))
        claims = json.loads(_b64decode(pieces[1]))
    except ValueError:
        raise OAuthError("invalid_grant", f"Invalid {what}: segments are not base64url JSON.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OAuthError("invalid_grant", f"Invalid {what}: segments are not JSON objects.")
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", f"Invalid {what}: unsupported algorithm {header.get('alg')!r}.")
    return header, claims


def _verify(token: str, key: rsa.RSAPublicKey, message: str) -> None:
    signing_input, _, signature = token.rpartition(".")
    try:
        key.verify(_b64decode(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise OAuthError("invalid_grant", message) from None


def _check_times(claims: dict[str, Any], max_lifetime: int | None) -> None:
    now = time.time()
    try:
        iat = float(claims.get("iat", now))
        exp = float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        raise OAuthError("invalid_grant", "Invalid JWT: exp claim is missing or not a number.") from None
    if exp <= now - CLOCK_SKEW_SECONDS:
        raise OAuthError(
            "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        )
    if iat > now + CLOCK_SKEW_SECONDS or (max_lifetime is not None and exp - iat > max_lifetime):
        raise OAuthError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
            "Check your iat and exp values in the JWT claim.",
        )
