"""Dataset preflight: a generated JSONL of about 1 GB checked from the emulator's Cloud Storage, against a
plain streamed download of the same object.

Both run in a fresh child process each (`python -m bench.preflight --worker ...`), so each one's resident
set is its own: the figure is its peak (VmHWM) minus its resident set just before the first byte, which is
what the check adds to an operator. The emulator runs in its own process and serves the file from disk.
The check is the operator's own code path (`DatasetPreflight.check`, metadata then streamed media download
of exactly that generation, every line parsed and checked), so the ratio of its MB/s to the download's is
the cost of checking over reading the bytes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.emulator_process import EmulatorProcess
from bench.env import BenchEnv
from bench.figures import RunResult
from controller.api.tuningjob import TuningJobSpec
from controller.google.auth import StaticTokenAuth
from controller.google.storage import GcsUri, StorageClient
from controller.preflight import DatasetPreflight
from controller.preflight.lines import iter_lines, prefetched

BUCKET = "vertexops-bench"
NAME = "preflight/train.jsonl"
MIB = 1 << 20


def run(env: BenchEnv, megabytes: int, workdir: Path) -> RunResult:
    result = RunResult("preflight")
    path = workdir / f"preflight-{megabytes}mb.jsonl"
    examples = _generate(path, megabytes * MIB)
    size = path.stat().st_size
    with EmulatorProcess(workdir / "preflight-emulator.log") as emulator:
        emulator.put_object_from_file(BUCKET, NAME, path)
        download = _worker(emulator, "download")
        parse = _worker(emulator, "parse")
        check = _worker(emulator, "check")
    if check["examples"] != examples or check["errors"] != 0:
        raise RuntimeError(f"the check counted {check['examples']} examples and {check['errors']} errors")
    mb = size / 1e6
    result.add("size", "object size", "MB", mb)
    result.add("examples", "examples in it (all valid)", "examples", examples)
    result.add("download_mbps", "plain streamed download (alt=media)", "MB/s", mb / download["seconds"])
    result.add(
        "parse_mbps",
        "download + JSON parse of every line (orjson, no checks)",
        "MB/s",
        mb / parse["seconds"],
        "the ceiling of any check that parses each line, on one core",
    )
    result.add("check_mbps", "preflight: download + check of every line", "MB/s", mb / check["seconds"])
    result.add(
        "ratio",
        "check throughput / download throughput",
        "x",
        download["seconds"] / check["seconds"],
        "1.0 would be checking at the speed of reading the bytes",
    )
    result.add(
        "parse_ratio",
        "check throughput / parse throughput",
        "x",
        parse["seconds"] / check["seconds"],
        "1.0 would be checks that cost nothing beyond parsing the JSON",
    )
    result.add("check_seconds", "preflight wall time", "s", check["seconds"])
    result.add("lines_per_second", "lines checked per second", "lines/s", examples / check["seconds"])
    result.add(
        "rss_growth", "preflight: peak RSS growth", "MiB", check["rss_growth"] / MIB, "target < 100 MiB"
    )
    result.add("download_rss_growth", "download: peak RSS growth", "MiB", download["rss_growth"] / MIB)
    result.notes.append(
        "Each side in a child process of its own, the emulator in another, on the same two cores: the "
        "emulator's serving (Python, each object sent with its length as Google sends it) is part of both "
        "figures"
    )
    return result


def _generate(path: Path, target: int) -> int:
    """Supervised examples of mixed sizes (a few hundred bytes to a few KB), up to `target` bytes."""
    rng = random.Random(18)
    words = [
        "order", "invoice", "refund", "shipping", "password", "account", "delivery", "address", "return",
        "subscription", "payment", "card", "support", "reset", "thanks", "please", "today", "tomorrow",
    ]  # fmt: skip
    templates: list[bytes] = []
    for _ in range(2000):
        question = " ".join(rng.choice(words) for _ in range(rng.randint(5, 60)))
        answer = " ".join(rng.choice(words) for _ in range(rng.randint(20, 400)))
        example: dict[str, Any] = {
            "systemInstruction": {"parts": [{"text": "Answer as the support team of an online shop."}]},
            "contents": [
                {"role": "user", "parts": [{"text": question}]},
                {"role": "model", "parts": [{"text": answer}]},
            ],
        }
        templates.append(json.dumps(example).encode() + b"\n")
    written = lines = 0
    with path.open("wb") as out:
        while written + len(line := templates[lines % len(templates)]) <= target:  # 1 GiB is the limit
            out.write(line)
            written += len(line)
            lines += 1
    return lines


def _worker(emulator: EmulatorProcess, mode: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.preflight", "--worker", mode, emulator.url, emulator.token]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=3600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _work(mode: str, url: str, token: str) -> dict[str, Any]:
    storage = StorageClient(auth=StaticTokenAuth(token), base_url=url)
    uri = f"gs://{BUCKET}/{NAME}"
    spec = TuningJobSpec.model_validate(
        {
            "baseModel": "gemini-2.5-flash",
            "supervisedTuningSpec": {"trainingDatasetUri": uri, "hyperParameters": {"epochCount": 3}},
            "preflight": {"mode": "Required"},
        }
    )
    preflight = DatasetPreflight(storage)
    meta = storage.get_metadata(GcsUri.parse(uri))  # connection and imports warm before the baseline
    before = _vm("VmRSS")
    started = time.perf_counter()
    examples = errors = 0
    if mode == "download":
        received = sum(len(chunk) for chunk in storage.iter_media(meta))
        assert received == meta.size
    elif mode == "parse":
        # The preflight's own download and line splitting, with nothing but the JSON parse of each line.
        for line in iter_lines(prefetched(storage.iter_media(meta)), 1 << 24):
            if isinstance(line, bytes) and line:
                orjson.loads(line)
                examples += 1
    else:
        checked = preflight.check({"metadata": {}, "status": {}}, spec).status["preflight"]
        examples, errors = checked["trainingExampleCount"], checked["errorCount"]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rss_growth": max(0, _vm("VmHWM") - before),
        "examples": examples,
        "errors": errors,
    }


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--worker":
    print(json.dumps(_work(sys.argv[2], sys.argv[3], sys.argv[4])))
