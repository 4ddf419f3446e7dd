"""The emulator's token endpoints answer as Google's do, and the APIs accept only tokens minted there."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_helpers import PROJECT

from controller.testenv.google_credentials import sign_jwt
from emulator import Emulator
from emulator.oauth import GOOGLE_TOKEN_URI, JWT_BEARER, TOKEN_EXCHANGE

JOBS = f"/v1/projects/{PROJECT}/locations/us-central1/tuningJobs"
EMAIL = "tuner@demo-project.iam.gserviceaccount.com"
AUDIENCE = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x"
ISSUER = "https://issuer.example.test"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    public = key.public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def account_key() -> rsa.RSAPrivateKey:
    return _key()


@pytest.fixture
def registered(emu: Emulator, account_key: rsa.RSAPrivateKey) -> str:
    prefix = f"ya29.SENTINEL-{uuid.uuid4().hex[:8]}"
    emu.state.oauth.add_service_account(EMAIL, "kid-1", _pem(account_key), prefix)
    return prefix


def _assertion(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": EMAIL,
        "aud": GOOGLE_TOKEN_URI,
        "scope": SCOPE,
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    return sign_jwt(key, claims, key_id=str(overrides.pop("kid", "kid-1")))


def _grant(emu: Emulator, assertion: str) -> httpx.Response:
    return httpx.post(f"{emu.url}/token", data={"grant_type": JWT_BEARER, "assertion": assertion})


def test_a_signed_assertion_gets_a_minted_token_that_opens_the_api(
    emu: Emulator, registered: str, account_key: rsa.RSAPrivateKey
) -> None:
    response = _grant(emu, _assertion(account_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"} and body["token_type"] == "Bearer"
    assert body["access_token"].startswith(registered + "-") and 0 < body["expires_in"] <= 3600
    second = _grant(emu, _assertion(account_key)).json()["access_token"]
    assert second != body["access_token"]  # every token is new
    api = httpx.get(f"{emu.url}{JOBS}", headers={"authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200
    assert [r.status for r in emu.requests("oauth2.token")] == [200, 200]
    assert "assertion" not in json.dumps([r.to_json() for r in emu.requests()])


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"aud": "https://elsewhere.example/token"}, "Invalid JWT: Failed audience check"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "Invalid JWT: Token must be"),
        ({"exp": int(time.time()) + 7200}, "Invalid JWT: Token must be a short-lived token (60 minutes)"),
        ({"iss": "someone@else.iam.gserviceaccount.com"}, "Invalid grant: account not found"),
    ],
)
def test_a_bad_assertion_gets_googles_invalid_grant(
    emu: Emulator, registered: str, account_key: rsa.RSAPrivateKey, change: dict[str, Any], description: str
) -> None:
    response = _grant(emu, _assertion(account_key, **change))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"].startswith(description)
    assert [t for t in emu.state.oauth.minted() if t.grant != "issued"] == []


def test_an_assertion_signed_by_another_key_is_refused(emu: Emulator, registered: str) -> None:
    response = _grant(emu, _assertion(_key()))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


def test_other_grant_types_are_refused(emu: Emulator) -> None:
    response = httpx.post(f"{emu.url}/token", data={"grant_type": "password", "username": "u"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def _exchange(emu: Emulator, subject_token: str, audience: str = AUDIENCE) -> httpx.Response:
    return httpx.post(
        f"{emu.url}/v1/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "audience": audience,
            "scope": SCOPE,
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        },
    )


def _oidc(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "system:serviceaccount:ns:sa", "aud": "https:" + AUDIENCE, "iat": now}
    return sign_jwt(key, {**claims, "exp": now + 600, **overrides})


def test_sts_exchanges_a_federated_oidc_token(emu: Emulator) -> None:
    issuer_key = _key()
    emu.state.oauth.add_provider(AUDIENCE, ISSUER, _pem(issuer_key), "ya29.SENTINEL-wif")
    response = _exchange(emu, _oidc(issuer_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and body["access_token"].startswith("ya29.SENTINEL-wif-")
    minted = emu.state.oauth.lookup(body["access_token"])
    assert minted is not None and minted.principal.endswith("/subject/system:serviceaccount:ns:sa")
    assert minted.scopes == (SCOPE,)

    assert _exchange(emu, _oidc(_key())).json()["error_description"] == "Invalid ID Token signature."
    wrong_aud = _exchange(emu, _oidc(issuer_key, aud="https://other")).json()
    assert (
        wrong_aud["error"] == "invalid_grant"
        and "does not match the expected audience" in wrong_aud["error_description"]
    )
    assert _exchange(emu, _oidc(issuer_key), audience=AUDIENCE + "-other").json()["error"] == "invalid_target"
    assert [r.status for r in emu.requests("sts.token")] == [200, 400, 400, 400]


def test_the_control_api_registers_identities_and_lists_minted_tokens(emu: Emulator) -> None:
    key = _key()
    added = httpx.post(
        f"{emu.url}/_emulator/oauth/service-accounts",
        json={
            "clientEmail": EMAIL,
            "privateKeyId": "kid-1",
            "publicKeyPem": _pem(key),
            "tokenPrefix": "ya29.X",
        },
    )
    assert added.status_code == 200, added.text
    token = _grant(emu, _assertion(key)).json()["access_token"]
    listed = httpx.get(f"{emu.url}/_emulator/oauth/tokens").json()["tokens"]
    minted = [(t["token"], t["principal"], t["grant"]) for t in listed if t["grant"] != "issued"]
    assert minted == [(token, EMAIL, "jwt-bearer")]
    missing = httpx.post(f"{emu.url}/_emulator/oauth/service-accounts", json={"clientEmail": EMAIL})
    assert missing.status_code == 400 and "privateKeyId is required" in missing.text
    assert httpx.delete(f"{emu.url}/_emulator/oauth").status_code == 200
    assert httpx.get(f"{emu.url}{JOBS}", headers={"authorization": f"Bearer {token}"}).status_code == 401


def test_a_bearer_token_never_minted_is_unauthenticated(emu: Emulator) -> None:
    response = httpx.get(f"{emu.url}{JOBS}", headers={"authorization": "Bearer ya29.guess"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"


def test_the_request_log_says_where_each_credential_came_from(emu: Emulator) -> None:
    key = "AIzaSy-query-key-" + uuid.uuid4().hex
    models = f"{emu.url}/v1beta/tunedModels"
    assert httpx.get(models, params={"key": key, "pageSize": "5"}).status_code == 200  # Google accepts ?key=
    assert httpx.get(models, headers={"x-goog-api-key": key}).status_code == 200
    assert httpx.get(models, headers={"authorization": "Bearer t"}).status_code == 200
    records = emu.requests("tunedModels.list")
    assert [r.credentials for r in records] == [("api-key-query",), ("api-key-header",), ("bearer-header",)]
    assert records[0].query == "key=<redacted>&pageSize=5"
    logged = httpx.get(f"{emu.url}/_emulator/requests").json()
    assert [r["credentials"] for r in logged["requests"]] == [
        ["api-key-query"],
        ["api-key-header"],
        ["bearer-header"],
    ]
    assert key not in json.dumps(logged)


def _self_signed(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    """A self-signed JWT as google-auth sends it with `always_use_jwt_access` (no token endpoint)."""
    now = int(time.time())
    claims = {"iss": EMAIL, "sub": EMAIL, "scope": SCOPE, "iat": now, "exp": now + 3600, **overrides}
    return sign_jwt(key, claims, key_id=str(overrides.pop("kid", "kid-1")))


@pytest.mark.parametrize(
    "claims",
    [{}, {"scope": "", "aud": "https://aiplatform.googleapis.com/"}],
    ids=["scope-claim", "audience-claim"],
)
def test_a_self_signed_jwt_of_a_registered_key_opens_the_api_without_a_token_grant(
    emu: Emulator, registered: str, account_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    token = _self_signed(account_key, **claims)
    api = httpx.get(f"{emu.url}{JOBS}", headers={"authorization": f"Bearer {token}"})
    assert api.status_code == 200, api.text
    assert emu.requests("tuningJobs.list")[0].principal == EMAIL
    assert emu.requests("oauth2.token") == []


@pytest.mark.parametrize(
    "bad",
    ["another-key", "expired", "too-long", "wrong-subject", "no-scope-no-audience"],
)
def test_a_self_signed_jwt_google_would_refuse_is_unauthenticated(
    emu: Emulator, registered: str, account_key: rsa.RSAPrivateKey, bad: str
) -> None:
    now = int(time.time())
    token = {
        "another-key": lambda: _self_signed(_key()),
        "expired": lambda: _self_signed(account_key, iat=now - 7200, exp=now - 3600),
        "too-long": lambda: _self_signed(account_key, exp=now + 7200),
        "wrong-subject": lambda: _self_signed(account_key, sub="someone@else.iam.gserviceaccount.com"),
        "no-scope-no-audience": lambda: _self_signed(account_key, scope=""),
    }[bad]()
    api = httpx.get(f"{emu.url}{JOBS}", headers={"authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert api.json()["error"]["status"] == "UNAUTHENTICATED"
