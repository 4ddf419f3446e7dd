"""Client for the Cloud Storage JSON API v1: an object's metadata, and its bytes as a stream.

Only what the dataset preflight needs: `objects.get` for the metadata (generation, size, hashes), then
`objects.get?alt=media&generation=N` to read exactly the generation the metadata named, so an upload landing
mid-read cannot mix two versions of a file. Both are reads, so both are retried. Sources:
https://cloud.google.com/storage/docs/json_api/v1/objects/get,
https://cloud.google.com/storage/docs/json_api/v1/objects (the resource's fields; int64 and uint64 values
are JSON strings), https://cloud.google.com/storage/docs/request-endpoints (the host and the encoding of
object names: every `/` in a name is sent as %2F).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Self
from urllib.parse import quote

import httpx

from controller.google.auth import Auth, application_default_auth
from controller.google.errors import GoogleAPIError, MalformedResponseError, PermissionDeniedError
from controller.google.retry import RetryPolicy
from controller.google.transport import DEFAULT_TIMEOUT, Observer, Transport

API = "storage"
STORAGE_HOST = "https://storage.googleapis.com"
READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class GcsUri:
    bucket: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> GcsUri:
        if not uri.startswith("gs://"):
            raise ValueError(f"{uri!r} is not a gs:// URI")
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if not bucket or not name:
            raise ValueError(f"{uri!r} does not name an object (gs://bucket/object)")
        return cls(bucket, name)

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def resource(self) -> str:
        return f"projects/_/buckets/{self.bucket}/objects/{self.name}"


@dataclass(frozen=True)
class ObjectMetadata:
    """The fields of the object resource the preflight relies on."""

    uri: GcsUri
    generation: str
    size: int
    md5_hash: str | None
    crc32c: str | None
    content_type: str | None


def storage_hint(cls: type[GoogleAPIError], status: str, method: str, resource: str) -> str:
    if issubclass(cls, PermissionDeniedError):
        bucket = resource.split("/buckets/", 1)[-1].split("/", 1)[0] if "/buckets/" in resource else ""
        return (
            "grant the identity named above roles/storage.objectViewer (storage.objects.get) on bucket "
            f"{bucket or 'holding the data'}, or a role holding that permission"
        )
    return ""


class StorageClient:
    """Cloud Storage reads over REST. `base_url` sends every call to one URL (the emulator)."""

    def __init__(
        self,
        *,
        auth: Auth | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        observer: Observer | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = (base_url or STORAGE_HOST).rstrip("/")
        self._transport = Transport(
            api=API,
            auth=auth or application_default_auth(),
            retry=retry or RetryPolicy(),
            timeout=timeout,
            observer=observer,
            hint=storage_hint,
            http_client=http_client,
            sleep=sleep,
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StorageClient(base_url={self._base_url!r}, auth={self._transport.auth!r})"

    def _object_url(self, uri: GcsUri) -> str:
        return f"{self._base_url}/storage/v1/b/{quote(uri.bucket, safe='')}/o/{quote(uri.name, safe='')}"

    def get_metadata(self, uri: GcsUri) -> ObjectMetadata:
        data = self._transport.call(
            "objects.get", "GET", self._object_url(uri), resource=uri.resource, retry=True
        )
        try:
            return ObjectMetadata(
                uri=uri,
                generation=str(data["generation"]),
                size=int(data["size"]),
                md5_hash=data.get("md5Hash"),
                crc32c=data.get("crc32c"),
                content_type=data.get("contentType"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedResponseError(
                f"malformed response from objects.get on {uri}: {err!r} missing or not a number",
                http_status=200,
                status="UNKNOWN",
                api=API,
                method="objects.get",
                resource=uri.resource,
            ) from None

    def iter_media(self, meta: ObjectMetadata, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
        """The bytes of exactly `meta.generation`, in pieces as they arrive (never the whole object)."""
        uri = meta.uri
        response = self._transport.open_stream(
            "objects.get",
            self._object_url(uri),
            resource=uri.resource,
            params={"alt": "media", "generation": meta.generation},
            retry=True,
        )
        try:
            yield from response.iter_raw(chunk_bytes)
        except httpx.HTTPError as exc:
            raise self._transport.stream_error(exc, "objects.get", uri.resource) from None
        finally:
            response.close()
