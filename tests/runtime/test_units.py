"""Pure units: store and relist diffs, cache stripping, key helpers, owner mapping, logging, configuration."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from controller.runtime.config import RuntimeConfig
from controller.runtime.kubeapi import ApiError, ResourceRef
from controller.runtime.log import log_context, setup_logging
from controller.runtime.manager import Result
from controller.runtime.mapping import map_by_reference, map_to_owner
from controller.runtime.store import Store, object_key, split_key, strip_for_cache


def obj(namespace: str | None, name: str, rv: str = "1", **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": rv}
    if namespace:
        metadata["namespace"] = namespace
    return {"metadata": metadata, **extra}


def test_keys_round_trip_for_namespaced_and_cluster_objects() -> None:
    assert object_key(obj("ns", "a")) == "ns/a"
    assert object_key(obj(None, "node-1")) == "node-1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node-1") == (None, "node-1")
    with pytest.raises(ValueError, match=r"metadata\.name"):
        object_key({"metadata": {}})


def test_replace_reports_additions_changes_and_deletions_within_its_namespace() -> None:
    store = Store()
    for item in (obj("a", "same"), obj("a", "changed"), obj("a", "gone"), obj("b", "other-namespace")):
        store.upsert(item)
    result = store.replace([obj("a", "same"), obj("a", "changed", rv="2"), obj("a", "new")], namespace="a")
    assert [object_key(o) for o in result.added] == ["a/new"]
    assert [(object_key(old), object_key(new)) for old, new in result.updated] == [("a/changed", "a/changed")]
    assert [object_key(o) for o in result.deleted] == ["a/gone"]
    # Another namespace's objects are outside this relist's scope and stay.
    assert store.get("b/other-namespace") is not None
    assert sorted(store.keys()) == ["a/changed", "a/new", "a/same", "b/other-namespace"]


def test_replace_without_namespace_covers_everything() -> None:
    store = Store()
    store.upsert(obj("a", "x"))
    store.upsert(obj("b", "y"))
    result = store.replace([obj("b", "y")])
    assert [object_key(o) for o in result.deleted] == ["a/x"]
    assert len(store) == 1


def test_every_read_gets_an_object_of_its_own() -> None:
    store = Store()
    store.upsert(obj("ns", "a", spec={"list": [1, 2]}))
    first = store.get("ns/a")
    assert first is not None
    first["spec"]["list"].append(3)  # a reader changing what it got
    assert store.get("ns/a") == obj("ns", "a", spec={"list": [1, 2]})
    assert store.list()[0] is not store.list()[0]


def test_values_json_allows_and_orjson_refuses_survive_the_store() -> None:
    store = Store()
    store.upsert(obj("ns", "big", spec={"n": 2**70, "text": "é \u2028"}))
    assert store.get("ns/big") == obj("ns", "big", spec={"n": 2**70, "text": "é \u2028"})


def test_namespace_reads_and_resource_versions_need_no_full_scan() -> None:
    store = Store()
    for item in (obj("a", "x"), obj("a", "y", rv="7"), obj("b", "z")):
        store.upsert(item)
    assert store.namespaces() == ["a", "b"]
    assert sorted(o["metadata"]["name"] for o in store.list_namespace("a")) == ["x", "y"]
    assert store.resource_version("a/y") == "7" and store.resource_version("a/none") is None
    store.delete("b/z")
    store.replace([obj("a", "x")], namespace="a")
    assert store.namespaces() == ["a"] and store.list_namespace("b") == []
    assert [o["metadata"]["name"] for o in store.list_namespace("a")] == ["x"]


def test_an_index_follows_adds_changes_deletes_and_relists() -> None:
    store = Store()
    store.upsert(obj("ns", "before", spec={"team": "red"}))
    store.add_index("team", lambda o: [o["spec"]["team"]])  # added with objects present: they are indexed
    assert store.by_index("team", "red") == ["ns/before"]
    store.upsert(obj("ns", "after", spec={"team": "red"}))
    assert store.by_index("team", "red") == ["ns/after", "ns/before"]
    store.upsert(obj("ns", "before", spec={"team": "blue"}))
    assert store.by_index("team", "red") == ["ns/after"] and store.by_index("team", "blue") == ["ns/before"]
    store.delete("ns/after")
    assert store.by_index("team", "red") == []
    store.replace([obj("ns", "fresh", spec={"team": "blue"})])
    assert store.by_index("team", "blue") == ["ns/fresh"]
    with pytest.raises(ValueError, match="team"):
        store.add_index("team", lambda o: [])


def test_strip_for_cache_drops_managed_fields_and_last_applied_only() -> None:
    item = obj(
        "ns",
        "a",
        spec={"x": 1},
    )
    item["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    item["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        "keep": "me",
    }
    stripped = strip_for_cache(item)
    assert "managedFields" not in stripped["metadata"]
    assert stripped["metadata"]["annotations"] == {"keep": "me"}
    assert stripped["spec"] == {"x": 1}
    only_last_applied = obj("ns", "b")
    only_last_applied["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    assert "annotations" not in strip_for_cache(only_last_applied)["metadata"]


def test_resource_paths() -> None:
    widgets = ResourceRef("example.dev", "v1", "widgets")
    assert widgets.collection_path() == "/apis/example.dev/v1/widgets"
    assert widgets.object_path("w", "ns") == "/apis/example.dev/v1/namespaces/ns/widgets/w"
    nodes = ResourceRef("", "v1", "nodes", namespaced=False)
    assert nodes.object_path("n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError, match="cluster-scoped"):
        nodes.collection_path("ns")
    with pytest.raises(ValueError, match="needs a namespace"):
        widgets.object_path("w")


def test_api_error_reads_the_status_body_or_plain_text() -> None:
    body = json.dumps({"kind": "Status", "code": 409, "reason": "Conflict", "message": "the object changed"})
    error = ApiError.from_status(409, body.encode(), "PUT", "/api/v1/x")
    assert (error.status, error.reason, error.message, error.conflict) == (
        409,
        "Conflict",
        "the object changed",
        True,
    )
    assert "PUT /api/v1/x" in str(error)
    plain = ApiError.from_status(502, b"Bad Gateway")
    assert (plain.status, plain.reason, plain.message) == (502, "Unknown", "Bad Gateway")


def test_map_to_owner_matches_group_and_kind_of_owner_references() -> None:
    owned = obj("ns", "cm")
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "example.dev/v1", "kind": "Widget", "name": "w1", "controller": True},
        {"apiVersion": "example.dev/v2", "kind": "Widget", "name": "w2"},
        {"apiVersion": "other.dev/v1", "kind": "Widget", "name": "w3"},
        {"apiVersion": "example.dev/v1", "kind": "Gadget", "name": "g1"},
    ]
    assert map_to_owner("example.dev", "Widget")(owned) == ["ns/w1", "ns/w2"]
    assert map_to_owner("example.dev", "Widget", controller_only=True)(owned) == ["ns/w1"]
    assert map_to_owner("example.dev", "Widget")(obj("ns", "orphan")) == []


def test_map_by_reference_finds_referrers_in_the_same_namespace() -> None:
    primaries = Store()
    primaries.upsert(obj("ns", "uses-it", spec={"secret": "creds"}))
    primaries.upsert(obj("ns", "uses-other", spec={"secret": "other"}))
    primaries.upsert(obj("elsewhere", "same-name", spec={"secret": "creds"}))
    map_fn = map_by_reference(primaries, lambda p: [p["spec"]["secret"]])
    assert map_fn(obj("ns", "creds")) == ["ns/uses-it"]


def test_map_by_reference_follows_every_change_of_the_primaries() -> None:
    primaries = Store()
    primaries.upsert(obj("ns", "a", spec={"secret": "creds"}))
    map_fn = map_by_reference(primaries, lambda p: [p["spec"]["secret"]])
    assert map_fn(obj("ns", "creds")) == ["ns/a"]
    primaries.upsert(obj("ns", "b", spec={"secret": "creds"}))
    assert sorted(map_fn(obj("ns", "creds"))) == ["ns/a", "ns/b"]
    primaries.upsert(obj("ns", "a", spec={"secret": "moved"}))
    assert map_fn(obj("ns", "creds")) == ["ns/b"] and map_fn(obj("ns", "moved")) == ["ns/a"]
    primaries.delete("ns/b")
    assert map_fn(obj("ns", "creds")) == []
    primaries.replace([obj("ns", "c", spec={"secret": "creds"})])
    assert map_fn(obj("ns", "creds")) == ["ns/c"] and map_fn(obj("ns", "moved")) == []


def test_map_by_reference_reads_each_primary_once_for_a_whole_relist() -> None:
    """A start hands every cached object to the map at once; with 2,000 objects that read each one's
    references 4,000,000 times when the map scanned the cache per event, and must read them 2,000 times."""
    primaries = Store()
    objects = [obj("ns", f"job-{i}", spec={"ref": f"job-{i - 1}"}) for i in range(2000)]
    primaries.replace(objects)
    reads = []

    def references(primary: dict[str, Any]) -> list[str]:
        reads.append(primary["metadata"]["name"])
        return [primary["spec"]["ref"]]

    map_fn = map_by_reference(primaries, references)
    assert [list(map_fn(o)) for o in objects[:3]] == [["ns/job-1"], ["ns/job-2"], ["ns/job-3"]]
    for o in objects:
        map_fn(o)
    assert len(reads) == len(objects)


def test_result_rejects_a_negative_delay() -> None:
    with pytest.raises(ValueError, match="requeue_after"):
        Result(requeue_after=-1)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("json", "INFO", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_json_logs_carry_context_and_extra_fields_and_redact_secrets(log_stream: io.StringIO) -> None:
    log = logging.getLogger("vertexops.test")
    with log_context(kind="TuningJob", key="ns/a", reconcile_id="r1"):
        log.info(
            "created job", extra={"job": "projects/p/locations/l/tuningJobs/1", "access_token": "ya29.x"}
        )
    log.info("outside")
    first, second = (json.loads(line) for line in log_stream.getvalue().splitlines())
    assert first["msg"] == "created job"
    assert first["level"] == "INFO"
    assert (first["kind"], first["key"], first["reconcile_id"]) == ("TuningJob", "ns/a", "r1")
    assert first["job"] == "projects/p/locations/l/tuningJobs/1"
    assert first["access_token"] == "[redacted]"
    assert "ya29" not in log_stream.getvalue()
    assert "kind" not in second


def test_json_log_lines_keep_the_key_names_log_pipelines_parse(log_stream: io.StringIO) -> None:
    log = logging.getLogger("vertexops.keys")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.warning("failed", exc_info=True, extra={"_private": "x", "job": "j"})
    line = json.loads(log_stream.getvalue())
    assert list(line)[:4] == ["time", "level", "logger", "msg"]
    assert (line["level"], line["logger"], line["msg"], line["job"]) == (
        "WARNING",
        "vertexops.keys",
        "failed",
        "j",
    )
    assert line["time"].endswith("+00:00") and len(line["time"]) == len("2026-01-01T00:00:00.000+00:00")
    assert (
        line["error"].startswith("Traceback (most recent call last):")
        and "RuntimeError: boom" in line["error"]
    )
    assert "_private" not in line


def test_logging_defaults_to_json_at_info_and_keeps_client_libraries_quiet_even_at_debug() -> None:
    stream = io.StringIO()
    handler = setup_logging(stream=stream)
    try:
        logging.getLogger("vertexops.test").debug("hidden")
        logging.getLogger("vertexops.test").info("shown")
        assert json.loads(stream.getvalue())["msg"] == "shown"
        setup_logging("json", "DEBUG", stream=stream)
        # At DEBUG these two print request headers, which carry bearer tokens.
        for noisy in ("kubernetes", "urllib3"):
            assert logging.getLogger(noisy).getEffectiveLevel() == logging.WARNING
        logging.getLogger("urllib3.connectionpool").debug("Authorization: Bearer sentinel")
        assert "sentinel" not in stream.getvalue()
    finally:
        logging.getLogger().removeHandler(handler)
        for existing in list(logging.getLogger().handlers):
            if existing.get_name() == "vertexops":
                logging.getLogger().removeHandler(existing)
        logging.getLogger().setLevel(logging.WARNING)


def test_text_logs_are_key_value_lines() -> None:
    stream = io.StringIO()
    handler = setup_logging("text", "INFO", stream=stream)
    try:
        with log_context(key="ns/a"):
            logging.getLogger("vertexops.test").warning("retrying", extra={"reason": "quota exceeded"})
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert "WARNING vertexops.test: retrying" in line
    assert "key=ns/a" in line
    assert 'reason="quota exceeded"' in line


def test_setup_logging_twice_does_not_duplicate_lines() -> None:
    stream = io.StringIO()
    setup_logging("text", "INFO", stream=io.StringIO())
    handler = setup_logging("text", "INFO", stream=stream)
    try:
        logging.getLogger("vertexops.test").info("once")
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().count("once") == 1
    assert sum(h.get_name() == "vertexops" for h in logging.getLogger().handlers) == 0


def test_config_defaults_are_valid_and_errors_name_the_field() -> None:
    config = RuntimeConfig()
    assert config.leader_election
    assert (config.lease_duration_seconds, config.renew_deadline_seconds, config.retry_period_seconds) == (
        15,
        10,
        2,
    )
    with pytest.raises(ValidationError, match="workers"):
        RuntimeConfig(workers=0)
    with pytest.raises(ValidationError, match="renew_deadline_seconds must be shorter"):
        RuntimeConfig(lease_duration_seconds=5, renew_deadline_seconds=6)
    with pytest.raises(ValidationError, match="log_format"):
        RuntimeConfig(log_format="xml")  # type: ignore[arg-type]
    # Without leader election the lease timings do not matter.
    assert not RuntimeConfig(
        leader_election=False, lease_duration_seconds=1, renew_deadline_seconds=5
    ).leader_election
