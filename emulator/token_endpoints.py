"""The HTTP side of the token endpoints, `POST /token` and `POST /v1/token`; the grants: `emulator.oauth`."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from emulator.oauth import OAUTH_TOKEN_PATH, STS_TOKEN_PATH, OAuthError
from emulator.routes import Request, Response, json_response, record_request
from emulator.state import EmulatorState


def is_token_path(path: str) -> bool:
    return path in (OAUTH_TOKEN_PATH, STS_TOKEN_PATH)


def handle_token_request(state: EmulatorState, req: Request) -> Response:
    """Serve one token request (a POST of a form, as Google's endpoints take) and log it like an API call."""
    started = time.monotonic()
    api, method = ("oauth2", "oauth2.token") if req.path == OAUTH_TOKEN_PATH else ("sts", "sts.token")
    form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    try:
        if req.http_method != "POST":
            raise OAuthError("invalid_request", f"Method {req.http_method} is not allowed; use POST.", 405)
        answer = state.oauth.token(form) if req.path == OAUTH_TOKEN_PATH else state.oauth.exchange(form)
        response = json_response(200, answer, {"cache-control": "no-store"})
    except OAuthError as error:
        response = json_response(error.http_status, error.body())
    record_request(state, req, api=api, method=method, status=response.status, started=started)
    return response
