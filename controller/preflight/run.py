"""The dataset preflight of one TuningJob: read its gs:// files, check them, say whether create may go ahead.

Runs as the Google identity the job will be created with (the backend of the resource's tenant builds it
with that identity's credential), so a file the job could not read is found unreadable here too.

Cached per object generation, twice:
- in status: `status.preflight` records the generation of each file it checked and a digest of the inputs
  that decide the result (mode, strictness, URIs, the base model's limits, the epochs). While both match,
  one metadata read per file (`objects.get`) is all a reconcile costs, also after a restart or a resync.
- in memory, per identity: a file shared by several TuningJobs is read once per generation.
A new generation (the object was replaced) or a changed input checks again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.api.base import format_timestamp
from controller.api.conditions import Reason
from controller.api.tuningjob import (
    PreferenceOptimizationSpec,
    PreflightMode,
    SupervisedTuningSpec,
    TuningJobSpec,
)
from controller.external import CreateCheck, JsonObject
from controller.google.errors import NotFoundError, PermissionDeniedError, UnauthenticatedError
from controller.google.storage import GcsUri, ObjectMetadata, StorageClient
from controller.preflight.dataset import FileReport, FileRole, check_file
from controller.preflight.limits import DataFormat, DatasetLimits, limits_for
from controller.preflight.lines import prefetched
from controller.preflight.summary import Unreadable, summarize

CACHE_ENTRIES = 256
MULTIMODAL_NOT_CHECKED = (
    "the data is not checked before the job is created: {names} is a Vertex AI multimodal dataset, not a "
    "gs:// JSONL file the preflight can read; Vertex AI checks it and reports dropped examples in "
    "status.tuningDataStats"
)


@dataclass(frozen=True)
class PreflightSettings:
    default_mode: PreflightMode = PreflightMode.REQUIRED
    # How often a blocked job looks at its files again (one metadata read each) to see a fixed upload.
    recheck_seconds: float = 60.0
    max_problems: int = 20


class DatasetPreflight:
    def __init__(
        self,
        storage: StorageClient,
        settings: PreflightSettings | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.storage = storage
        self.settings = settings or PreflightSettings()
        self._now = now
        self._lock = threading.Lock()
        self._reports: OrderedDict[tuple[str, ...], FileReport] = OrderedDict()

    def effective_mode(self, spec: TuningJobSpec, required_by: str | None) -> PreflightMode:
        """The spec's mode, else the operator's default; a tenant that requires the check makes it Required
        (a spec that asks for less is refused by the tenancy rules before this runs)."""
        mode = (spec.preflight.mode if spec.preflight else None) or self.settings.default_mode
        return PreflightMode.REQUIRED if required_by else PreflightMode(mode)  # the model keeps enum values

    def check(self, obj: JsonObject, spec: TuningJobSpec, *, required_by: str | None = None) -> CreateCheck:
        mode = self.effective_mode(spec, required_by)
        # Each tuning method has its own documented example format and limits.
        tuning: SupervisedTuningSpec | PreferenceOptimizationSpec | None = spec.supervised_tuning_spec
        data_format = DataFormat.SUPERVISED
        if spec.preference_optimization_spec is not None:
            tuning, data_format = spec.preference_optimization_spec, DataFormat.PREFERENCE
        if mode is PreflightMode.SKIP or tuning is None:
            return CreateCheck(status={"preflight": {"mode": mode.value, "result": "Skipped"}})
        datasets = [
            uri
            for uri in (tuning.training_dataset_uri, tuning.validation_dataset_uri)
            if uri and not uri.startswith("gs://")
        ]
        if datasets:
            # A Vertex AI multimodal dataset is no file the preflight can read: the whole check is skipped
            # (checking only the other file would report a dataset without training examples).
            return _skipped(mode, MULTIMODAL_NOT_CHECKED.format(names=", ".join(datasets)))
        strict = bool(spec.preflight and spec.preflight.strict)
        limits = limits_for(spec.base_model, data_format)
        epochs = tuning.hyper_parameters.epoch_count if tuning.hyper_parameters else None
        files = [(FileRole.TRAINING, tuning.training_dataset_uri)]
        if tuning.validation_dataset_uri:
            files.append((FileRole.VALIDATION, tuning.validation_dataset_uri))
        digest = _digest(mode.value, strict, limits.key, epochs, self.settings.max_problems, files)

        metas: list[tuple[FileRole, ObjectMetadata | Unreadable]] = []
        for role, uri in files:
            metas.append((role, self._metadata(role, GcsUri.parse(uri))))
        previous = (obj.get("status") or {}).get("preflight") or {}
        if _same_check(previous, digest, metas):
            return self._outcome(previous, mode, strict, fresh=False)

        reports: list[FileReport | Unreadable] = []
        for role, meta in metas:
            reports.append(meta if isinstance(meta, Unreadable) else self._report(role, meta, limits))
        summary = summarize(
            reports,
            mode=mode,
            strict=strict,
            epochs=epochs,
            digest=digest,
            checked=format_timestamp(self._now()),
            max_problems=self.settings.max_problems,
            limits=limits,
        )
        if _without_time(summary) == _without_time(previous):
            # The same finding again (a file still missing or unreadable): no new event, no status write.
            return self._outcome(previous, mode, strict, fresh=False)
        return self._outcome(summary, mode, strict, fresh=True)

    # -- helpers -------------------------------------------------------------------------------------------

    def _metadata(self, role: FileRole, uri: GcsUri) -> ObjectMetadata | Unreadable:
        """The object's metadata, or why it cannot be read (transient failures go up to the reconciler)."""
        try:
            return self.storage.get_metadata(uri)
        except (PermissionDeniedError, UnauthenticatedError) as err:
            return Unreadable(str(uri), role, Reason.PERMISSION_DENIED, err.message)
        except NotFoundError as err:
            return Unreadable(str(uri), role, Reason.NOT_FOUND, f"{uri} does not exist ({err.message})")

    def _report(self, role: FileRole, meta: ObjectMetadata, limits: DatasetLimits) -> FileReport:
        key = (str(meta.uri), meta.generation, role.value, limits.key, str(self.settings.max_problems))
        with self._lock:
            cached = self._reports.get(key)
            if cached is not None:
                self._reports.move_to_end(key)
                return cached
        report = check_file(
            prefetched(self.storage.iter_media(meta)),
            uri=str(meta.uri),
            role=role,
            generation=meta.generation,
            size=meta.size,
            limits=limits,
            max_problems=self.settings.max_problems,
        )
        with self._lock:
            self._reports[key] = report
            while len(self._reports) > CACHE_ENTRIES:
                self._reports.popitem(last=False)
        return report

    def _outcome(self, summary: JsonObject, mode: PreflightMode, strict: bool, *, fresh: bool) -> CreateCheck:
        status = {"preflight": summary}
        result = summary.get("result")
        message = summary.get("message") or ""
        retry = self.settings.recheck_seconds
        events: list[tuple[str, Reason, str]] = []
        blocked: tuple[Reason, str] | None = None
        if mode is PreflightMode.REQUIRED and result == "Failed":
            reason = Reason(summary.get("reason") or Reason.INVALID_DATASET)
            blocked = (reason, message)
        elif mode is PreflightMode.REQUIRED and strict and result == "PassedWithWarnings":
            blocked = (Reason.INVALID_DATASET, message + " (spec.preflight.strict: warnings block the job)")
        if fresh:
            if blocked is not None:
                events.append(("Warning", blocked[0], blocked[1]))
            elif result == "Failed":
                text = f"{message} (preflight mode {mode.value}: the job is created anyway)"
                events.append(("Warning", Reason(summary.get("reason") or Reason.INVALID_DATASET), text))
            elif result == "Passed":
                events.append(("Normal", Reason.DATASET_CHECKED, message))
            else:
                events.append(("Warning", Reason.DATASET_WARNINGS, message))
        return CreateCheck(status=status, blocked=blocked, retry_after=retry, events=events)


def _skipped(mode: PreflightMode, message: str) -> CreateCheck:
    return CreateCheck(status={"preflight": {"mode": mode.value, "result": "Skipped", "message": message}})


def _same_check(
    previous: JsonObject, digest: str, metas: list[tuple[FileRole, ObjectMetadata | Unreadable]]
) -> bool:
    """Whether status holds a check of these very generations with these inputs (never for a failed read)."""
    if previous.get("inputsDigest") != digest:
        return False
    checked = {f.get("uri"): f.get("generation") for f in previous.get("files") or []}
    if len(checked) != len(metas):
        return False
    for _role, meta in metas:
        if isinstance(meta, Unreadable) or checked.get(str(meta.uri)) != meta.generation:
            return False
    return True


def _without_time(summary: JsonObject) -> JsonObject:
    return {key: value for key, value in summary.items() if key != "checkedTime"}


def _digest(*parts: object) -> str:
    text = json.dumps(parts, default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
