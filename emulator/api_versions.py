"""What a v1 answer leaves out that v1beta1 has: the same store serves both versions of Vertex AI.

Fields are those of the REST discovery documents (aiplatform.v1.json / aiplatform.v1beta1.json, revision
20261106): `TuningJob.tuningJobState` and `TuningJob.tuningJobMetadata` are in v1beta1 only.
"""

from __future__ import annotations

from typing import Any

V1BETA1_ONLY_TUNING_JOB_FIELDS = ("tuningJobState", "tuningJobMetadata")


def for_version(path: str, payload: Any) -> Any:
    """`payload` (a TuningJob or a list of them) as the API version in `path` writes it."""
    if not path.startswith("/v1/") or not isinstance(payload, dict):
        return payload
    listed = payload.get("tuningJobs")
    jobs: list[Any] = listed if isinstance(listed, list) else [payload]
    for job in jobs:
        if isinstance(job, dict) and "/tuningJobs/" in str(job.get("name", "")):
            for field in V1BETA1_ONLY_TUNING_JOB_FIELDS:
                job.pop(field, None)
    return payload
