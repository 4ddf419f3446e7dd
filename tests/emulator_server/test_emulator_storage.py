"""The emulator's Cloud Storage: the JSON API's paths, object fields, media download and error bodies."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controller.google.auth import StaticTokenAuth
from controller.google.errors import NotFoundError, PermissionDeniedError
from controller.google.storage import GcsUri, StorageClient
from emulator import Emulator, EmulatorConfig
from emulator.storage import crc32c

TOKEN = "reader-token"
READER = "reader@proj.iam.gserviceaccount.com"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig()) as emulator:
        emulator.state.iam.register_token(TOKEN, READER)
        yield emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def test_object_metadata_has_the_resource_fields_of_the_json_api(emu: Emulator, http: httpx.Client) -> None:
    data = b'{"contents": []}\n' * 3
    emu.put_object("bkt", "data/train.jsonl", data)
    got = http.get("/storage/v1/b/bkt/o/data%2Ftrain.jsonl")
    assert got.status_code == 200
    body = got.json()
    assert body["kind"] == "storage#object"
    assert body["name"] == "data/train.jsonl" and body["bucket"] == "bkt"
    assert body["size"] == str(len(data))  # uint64: a JSON string
    assert isinstance(body["generation"], str) and body["generation"].isdigit()
    assert body["metageneration"] == "1"
    assert body["id"] == f"bkt/data/train.jsonl/{body['generation']}"
    assert body["md5Hash"] == base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    assert body["crc32c"] == base64.b64encode(crc32c(data).to_bytes(4, "big")).decode()
    assert body["mediaLink"].endswith(
        f"/download/storage/v1/b/bkt/o/data%2Ftrain.jsonl?generation={body['generation']}&alt=media"
    )
    assert {"timeCreated", "updated", "storageClass", "contentType", "etag", "selfLink"} <= body.keys()


def test_crc32c_is_castagnoli() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C (RFC 3720)
    assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283


def test_media_download_streams_the_bytes_with_its_generation_and_hashes(
    emu: Emulator, http: httpx.Client
) -> None:
    data = bytes(range(256)) * 9000  # over one emulator chunk
    meta = emu.put_object("bkt", "blob", data)
    got = http.get("/storage/v1/b/bkt/o/blob", params={"alt": "media"})
    assert got.status_code == 200 and got.content == data
    assert got.headers["x-goog-generation"] == meta["generation"]
    assert got.headers["x-goog-stored-content-length"] == str(len(data))
    # A length, as Google sends for a media download, not chunked transfer encoding.
    assert got.headers["content-length"] == str(len(data)) and "transfer-encoding" not in got.headers
    assert f"md5={meta['md5Hash']}" in got.headers["x-goog-hash"]
    via_link = http.get(f"/download/storage/v1/b/bkt/o/blob?generation={meta['generation']}&alt=media")
    assert via_link.content == data
    ranged = http.get("/storage/v1/b/bkt/o/blob", params={"alt": "media"}, headers={"range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert ranged.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert ranged.headers["content-length"] == "10"
    tail = http.get("/storage/v1/b/bkt/o/blob", params={"alt": "media"}, headers={"range": "bytes=-5"})
    assert tail.content == data[-5:]
    past = http.get(
        "/storage/v1/b/bkt/o/blob", params={"alt": "media"}, headers={"range": f"bytes={len(data)}-"}
    )
    assert past.status_code == 416


def test_a_new_upload_is_a_new_generation_and_the_old_one_is_gone(emu: Emulator, http: httpx.Client) -> None:
    first = http.post(
        "/upload/storage/v1/b/bkt/o", params={"uploadType": "media", "name": "a/b.jsonl"}, content=b"one"
    )
    assert first.status_code == 200
    second = http.post(
        "/upload/storage/v1/b/bkt/o", params={"uploadType": "media", "name": "a/b.jsonl"}, content=b"two"
    )
    assert int(second.json()["generation"]) > int(first.json()["generation"])
    assert http.get("/storage/v1/b/bkt/o/a%2Fb.jsonl", params={"alt": "media"}).content == b"two"
    old = http.get(
        "/storage/v1/b/bkt/o/a%2Fb.jsonl", params={"alt": "media", "generation": first.json()["generation"]}
    )
    assert old.status_code == 404
    wrong = http.post(
        "/upload/storage/v1/b/bkt/o", params={"uploadType": "resumable", "name": "x"}, content=b""
    )
    assert wrong.status_code == 400


def test_a_file_on_disk_is_served_without_being_read_into_memory(
    emu: Emulator, http: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"line\n" * 100_000)
    control = httpx.post(
        f"{emu.url}/_emulator/storage/objects", json={"bucket": "bkt", "name": "big", "path": str(path)}
    )
    assert control.status_code == 200 and control.json()["size"] == str(500_000)
    assert "crc32c" not in control.json() or len(path.read_bytes()) <= 4 << 20
    assert http.get("/storage/v1/b/bkt/o/big", params={"alt": "media"}).content == path.read_bytes()


def test_errors_have_the_json_api_body_and_permission_is_asked_before_existence(
    emu: Emulator, http: httpx.Client
) -> None:
    missing = http.get("/storage/v1/b/bkt/o/nope.jsonl")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "code": 404,
            "message": "No such object: bkt/nope.jsonl",
            "errors": [
                {"message": "No such object: bkt/nope.jsonl", "domain": "global", "reason": "notFound"}
            ],
        }
    }
    emu.put_object("private", "t.jsonl", b"{}\n")
    emu.state.iam.grant(READER, buckets=("bkt",))
    for name in ("t.jsonl", "does-not-exist"):
        denied = http.get(f"/storage/v1/b/private/o/{name}")
        assert denied.status_code == 403
        error = denied.json()["error"]
        assert error["errors"][0]["reason"] == "forbidden"
        assert error["message"] == (
            f"{READER} does not have storage.objects.get access to the Google Cloud Storage object. "
            "Permission 'storage.objects.get' denied on resource (or it may not exist)."
        )
    assert http.get("/storage/v1/b/bkt/o/nope.jsonl").status_code == 404
    upload = http.post(
        "/upload/storage/v1/b/bkt/o", params={"uploadType": "media", "name": "x"}, content=b"x"
    )
    assert upload.status_code == 403 and "storage.objects.create" in upload.json()["error"]["message"]
    assert [r.method for r in emu.requests()][:2] == ["objects.get", "objects.get"]
    assert {r.api for r in emu.requests()} == {"storage"}


def test_the_operators_client_reads_metadata_and_streams_exactly_that_generation(emu: Emulator) -> None:
    emu.put_object("bkt", "dir/v.jsonl", b"a\nb\n")
    client = StorageClient(auth=StaticTokenAuth(TOKEN), base_url=emu.url)
    meta = client.get_metadata(GcsUri.parse("gs://bkt/dir/v.jsonl"))
    assert meta.size == 4 and meta.md5_hash
    assert b"".join(client.iter_media(meta)) == b"a\nb\n"
    (download,) = [r for r in emu.requests("objects.get") if "alt=media" in r.query]
    assert (
        f"generation={meta.generation}" in download.query
        and download.path == "/storage/v1/b/bkt/o/dir%2Fv.jsonl"
    )
    emu.put_object("bkt", "dir/v.jsonl", b"c\n")
    with pytest.raises(NotFoundError):
        list(client.iter_media(meta))  # that generation is gone: never a mix of two versions
    emu.state.iam.grant("someone-else@proj.iam.gserviceaccount.com", buckets=("bkt",))
    with pytest.raises(PermissionDeniedError) as denied:
        client.get_metadata(GcsUri.parse("gs://bkt/dir/v.jsonl"))
    assert f"{READER} does not have storage.objects.get access" in denied.value.message
    assert "roles/storage.objectViewer" in denied.value.message
