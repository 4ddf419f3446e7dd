"""Dataset preflight: a TuningJob's JSONL files are read from Cloud Storage and checked before the paid
job is created (`run.DatasetPreflight`). One job per module: `limits` (the documented limits and their
sources), `example` (one line against the documented format), `lines` (bounded line splitting),
`dataset` (one file), `summary` (status.preflight), `run` (the check as the reconciler asks for it).
"""

from controller.preflight.run import DatasetPreflight, PreflightSettings

__all__ = ["DatasetPreflight", "PreflightSettings"]
