"""Cloud Storage JSON API v1 (objects only): metadata, media download, simple upload.

What the operator's dataset preflight reads, with the fields, paths and error bodies of the real API
(https://cloud.google.com/storage/docs/json_api/v1/objects, .../objects/get, .../objects/insert,
https://cloud.google.com/storage/docs/json_api/v1/status-codes, and the storage v1 discovery document):

- `GET /storage/v1/b/{bucket}/o/{object}`: the object resource (`kind` "storage#object", `id`
  "{bucket}/{name}/{generation}", `selfLink`, `mediaLink`, `name`, `bucket`, `generation` and
  `metageneration` as int64 strings, `contentType`, `storageClass`, `size` as a uint64 string, `md5Hash` and
  `crc32c` base64 of the big-endian digest, `etag`, `timeCreated`, `updated`, `timeStorageClassUpdated`).
  `?alt=media` (also on `/download/storage/v1/...`, where `mediaLink` points) streams the bytes instead,
  with `x-goog-generation`, `x-goog-metageneration`, `x-goog-stored-content-length` and `x-goog-hash`
  headers; a `Range: bytes=a-b` header answers 206 with `Content-Range`. `?generation=N` reads that
  generation (this emulator keeps only the live one: any other generation is 404, as for a deleted one).
- `POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name={object}`: stores the body as a new
  generation and answers the object resource.
- Errors in the JSON API's own shape (`{"error": {"errors": [{domain, reason, message}], code, message}}`,
  no `status` field): 404 `notFound` "No such object: {bucket}/{name}", 403 `forbidden`
  "{principal} does not have storage.objects.get access to the Google Cloud Storage object. ...". Read
  permission is asked before existence, as Google does, so a caller without it cannot learn what exists.

Tests put objects through the upload path, the control API (`/_emulator/storage`) or `Emulator.put_object`;
an object may be backed by a file on disk so a benchmark can serve a gigabyte without holding it in memory.
`crc32c` is computed in pure Python, so it is left out for objects over `CRC32C_MAX_BYTES` (the real API
always sends it; nothing in the operator reads it).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from emulator.apierror import ApiError
from emulator.clock import rfc3339

if TYPE_CHECKING:
    from emulator.iam import Iam

CHUNK_BYTES = 1 << 20
CRC32C_MAX_BYTES = 4 << 20
READ_PERMISSION = "storage.objects.get"
CREATE_PERMISSION = "storage.objects.create"


class StorageError(ApiError):
    """An error in the Cloud Storage JSON API's body shape (it has no `status` or `details`)."""

    def __init__(self, http_status: int, reason: str, message: str) -> None:
        status = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 416: "OUT_OF_RANGE"}
        super().__init__(status.get(http_status, "UNKNOWN"), message, http_status=http_status)
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.http_status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            }
        }


def no_such_object(bucket: str, name: str) -> StorageError:
    return StorageError(404, "notFound", f"No such object: {bucket}/{name}")


def forbidden(principal: str, permission: str, what: str) -> StorageError:
    who = principal or "Anonymous caller"
    return StorageError(
        403,
        "forbidden",
        f"{who} does not have {permission} access to the Google Cloud Storage {what}. Permission "
        f"'{permission}' denied on resource (or it may not exist).",
    )


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    name: str
    generation: int
    metageneration: int
    size: int
    md5: bytes
    crc32c: int | None
    content_type: str
    created: float
    data: bytes | None = None  # in memory, or
    path: Path | None = None  # a file the emulator serves from disk

    def resource(self, base_url: str = "https://storage.googleapis.com") -> dict[str, Any]:
        encoded = quote(self.name, safe="")
        created = rfc3339(self.created)
        fields: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "selfLink": f"{base_url}/storage/v1/b/{self.bucket}/o/{encoded}",
            "mediaLink": (
                f"{base_url}/download/storage/v1/b/{self.bucket}/o/{encoded}"
                f"?generation={self.generation}&alt=media"
            ),
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": str(self.metageneration),
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(self.size),
            "md5Hash": base64.b64encode(self.md5).decode(),
            "etag": base64.b64encode(f"{self.generation}".encode()).decode(),
            "timeCreated": created,
            "updated": created,
            "timeStorageClassUpdated": created,
        }
        if self.crc32c is not None:
            fields["crc32c"] = base64.b64encode(self.crc32c.to_bytes(4, "big")).decode()
        return fields

    def hash_header(self) -> str:
        parts = [f"md5={base64.b64encode(self.md5).decode()}"]
        if self.crc32c is not None:
            parts.insert(0, f"crc32c={base64.b64encode(self.crc32c.to_bytes(4, 'big')).decode()}")
        return ",".join(parts)

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end) in pieces of at most CHUNK_BYTES."""
        if self.data is not None:
            for offset in range(start, end, CHUNK_BYTES):
                yield self.data[offset : min(end, offset + CHUNK_BYTES)]
            return
        assert self.path is not None
        with self.path.open("rb") as handle:
            handle.seek(start)
            left = end - start
            while left > 0:
                piece = handle.read(min(CHUNK_BYTES, left))
                if not piece:
                    return
                left -= len(piece)
                yield piece


class Buckets:
    """Every bucket's live objects. A bucket exists once an object is put in it."""

    def __init__(self, iam: Iam) -> None:
        self._iam = iam
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], StoredObject] = {}
        self._next_generation = int(time.time() * 1_000_000)  # GCS generations are microsecond-like

    # -- writing -----------------------------------------------------------------------------------------

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes | None = None,
        *,
        path: Path | None = None,
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        """Store `data` (or serve the file at `path`) as a new generation of `bucket/name`."""
        if (data is None) == (path is None):
            raise ValueError("give the object's bytes or the path of a file holding them, not both")
        if not bucket or not name:
            raise StorageError(400, "required", "Required parameter: bucket and object name")
        md5 = hashlib.md5(usedforsecurity=False)
        total = len(data) if data is not None else path.stat().st_size  # type: ignore[union-attr]
        crc: int | None = 0 if total <= CRC32C_MAX_BYTES else None
        size = 0
        pieces: Iterator[bytes] = iter([data]) if data is not None else _file_chunks(path)  # type: ignore[arg-type]
        for piece in pieces:
            size += len(piece)
            md5.update(piece)
            crc = crc32c(piece, crc) if crc is not None else None
        with self._lock:
            self._next_generation = max(self._next_generation + 1, int(time.time() * 1_000_000))
            stored = StoredObject(
                bucket=bucket,
                name=name,
                generation=self._next_generation,
                metageneration=1,
                size=size,
                md5=md5.digest(),
                crc32c=crc,
                content_type=content_type,
                created=time.time(),
                data=data,
                path=path,
            )
            self._objects[(bucket, name)] = stored
        return stored

    def delete(self, bucket: str, name: str) -> bool:
        with self._lock:
            return self._objects.pop((bucket, name), None) is not None

    # -- reading -----------------------------------------------------------------------------------------

    def get(self, principal: str, bucket: str, name: str, generation: str | None = None) -> StoredObject:
        """The live object, for a caller allowed to read it (permission first, then existence)."""
        self.check_read(principal, bucket)
        with self._lock:
            found = self._objects.get((bucket, name))
        if found is None or (generation is not None and generation != str(found.generation)):
            raise no_such_object(bucket, name)
        return found

    def check_read(self, principal: str, bucket: str) -> None:
        iam = self._iam
        if iam.enabled and principal not in iam.bucket_readers.get(bucket, ()):
            raise forbidden(principal, READ_PERMISSION, "object")

    def check_create(self, principal: str, bucket: str) -> None:
        iam = self._iam
        if iam.enabled and principal not in iam.bucket_writers.get(bucket, ()):
            raise forbidden(principal, CREATE_PERMISSION, "object")

    def list_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [o.resource() for o in self._objects.values()]


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(CHUNK_BYTES):
            yield piece


# -- HTTP handlers (registered in emulator.routes) -----------------------------------------------------------

_O = r"^/storage/v1/b/(?P<b>[^/]+)/o/(?P<o>[^/]+)"


def get_object(state: Any, req: Any, m: dict[str, str]) -> Any:
    """`objects.get`: the resource, or with `alt=media` the bytes."""
    stored = state.storage.get(req.principal, m["b"], unquote(m["o"]), req.param("generation"))
    alt = req.param("alt") or "json"
    if alt == "media":
        return media_response(stored, req.headers.get("range"))
    if alt != "json":
        raise StorageError(400, "invalidParameter", f"Invalid value for alt: {alt}")
    return stored.resource(_base_url(req))


def download_object(state: Any, req: Any, m: dict[str, str]) -> Any:
    """The `mediaLink` host path: always media."""
    stored = state.storage.get(req.principal, m["b"], unquote(m["o"]), req.param("generation"))
    return media_response(stored, req.headers.get("range"))


def insert_object(state: Any, req: Any, m: dict[str, str]) -> Any:
    """`objects.insert` with `uploadType=media` (the simple upload); the body is the object's bytes."""
    upload_type = req.param("uploadType")
    if upload_type != "media":
        raise StorageError(
            400, "invalidParameter", f"Invalid upload type {upload_type!r}: use uploadType=media"
        )
    name = req.param("name")
    if not name:
        raise StorageError(400, "required", "Required parameter: name")
    state.storage.check_create(req.principal, m["b"])
    content_type = req.headers.get("content-type") or "application/octet-stream"
    return state.storage.put(m["b"], name, bytes(req.body), content_type=content_type).resource(
        _base_url(req)
    )


# (http method, path pattern, API method name, permission, handler)
ROUTE_TABLE: tuple[tuple[str, str, str, str, Any], ...] = (
    ("GET", _O, "objects.get", READ_PERMISSION, get_object),
    ("GET", r"^/download" + _O.removeprefix("^"), "objects.get", READ_PERMISSION, download_object),
    ("POST", r"^/upload/storage/v1/b/(?P<b>[^/]+)/o", "objects.insert", CREATE_PERMISSION, insert_object),
)


def media_response(stored: StoredObject, range_header: str | None) -> Any:
    from emulator.routes import Response  # noqa: PLC0415 - routes imports this module

    headers = {
        "content-type": stored.content_type,
        "x-goog-generation": str(stored.generation),
        "x-goog-metageneration": str(stored.metageneration),
        "x-goog-stored-content-length": str(stored.size),
        "x-goog-hash": stored.hash_header(),
        "accept-ranges": "bytes",
    }
    start, end, status = 0, stored.size, 200
    if range_header:
        start, end = _parse_range(range_header, stored.size)
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{stored.size}"
    # Streamed from memory or disk with its length, as Google sends a media download.
    return Response(status, headers=headers, chunks=stored.chunks(start, end), length=end - start)


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` as [start, end); 416 when it starts past the end."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.partition("-")
    try:
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError(header)
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        raise StorageError(400, "invalid", f"Invalid Range header: {header}") from None
    if start >= size or end <= start:
        raise StorageError(416, "requestedRangeNotSatisfiable", "The requested range cannot be satisfied.")
    return start, end


def _base_url(req: Any) -> str:
    host = req.headers.get("host")
    return f"http://{host}" if host else "https://storage.googleapis.com"


# -- CRC32C (Castagnoli), as the `crc32c` field and `x-goog-hash` carry it ----------------------------------


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of `data`, continuing from `crc` (the value for the bytes before it)."""
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
