"""One `GeminiClient` per distinct API key, shared by every resource that uses that key.

Each client holds a connection pool, so resources sharing a key share one. The cache is keyed by a SHA-256
digest of the key, never by the key itself, so no dict, log line or repr can print a key. A client nobody
refers to any more (its resources were deleted or moved to another key) is closed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from controller.google.auth import ApiKeyAuth, Auth
from controller.google.gemini import GeminiClient

#: Builds a client with the given credential; None means the operator's own Google credentials.
ClientFactory = Callable[[Auth | None], GeminiClient]

_OPERATOR_CREDENTIALS = "operator-credentials"


def key_digest(api_key: str) -> str:
    """A stable name for an API key that reveals nothing about it."""
    return "sha256:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class GeminiClients:
    """Clients by credential, with a record of which resource (by UID) uses which one. Thread-safe."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._clients: dict[str, GeminiClient] = {}
        self._users: dict[str, str] = {}  # resource uid -> digest of the credential it uses

    def client_for(self, uid: str, api_key: str | None) -> GeminiClient:
        """The client for `api_key` (the operator's credentials when None), now used by resource `uid`."""
        digest = key_digest(api_key) if api_key else _OPERATOR_CREDENTIALS
        with self._lock:
            client = self._clients.get(digest)
            if client is None:
                client = self._factory(ApiKeyAuth(api_key) if api_key else None)
                self._clients[digest] = client
            previous = self._users.get(uid)
            self._users[uid] = digest
            unused = self._release_locked(previous) if previous not in (None, digest) else None
        if unused is not None:
            unused.close()
        return client

    def forget(self, uid: str) -> None:
        """Resource `uid` is gone: close its client if no other resource uses it."""
        with self._lock:
            unused = self._release_locked(self._users.pop(uid, None))
        if unused is not None:
            unused.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def _release_locked(self, digest: str | None) -> GeminiClient | None:
        if digest is None or digest == _OPERATOR_CREDENTIALS or digest in self._users.values():
            return None
        return self._clients.pop(digest, None)

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
            self._users.clear()
        for client in clients:
            client.close()
