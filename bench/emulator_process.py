"""The emulator in its own process, steered through its control API.

Not in the benchmark process: that process also creates thousands of objects and runs a watch, and sharing
one interpreter lock with it would slow the emulator's answers and charge the operator for the delay.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from controller.testenv.process import die_with_parent


class EmulatorProcess:
    def __init__(
        self,
        log_path: Path,
        *,
        time_scale: float = 1.0,
        pending_seconds: float = 0.0,
        step_seconds: float = 60.0,
        total_steps: int = 1000,
        wall_clock_timestamps: bool = False,
        clock_start: float | None = None,
    ) -> None:
        self.log_path = log_path
        self.argv = [
            sys.executable,
            "-m",
            "emulator",
            "--port=0",
            f"--time-scale={time_scale}",
            f"--pending-seconds={pending_seconds}",
            f"--step-seconds={step_seconds}",
            f"--total-steps={total_steps}",
            *(["--wall-clock-timestamps"] if wall_clock_timestamps else []),
            *([f"--clock-start={clock_start}"] if clock_start is not None else []),
        ]
        self.popen: subprocess.Popen[str] | None = None
        self.url = ""
        self.token = ""
        # The control API takes no credential; for its own Vertex calls (listing the jobs it then counts) the
        # bench uses a token it has the emulator issue on start. The operator authenticates with the per-run
        # ADC file its OperatorProcess registers with this emulator.
        self.http = httpx.Client(timeout=60)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> EmulatorProcess:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - started from the main thread
            )
        assert self.popen.stdout is not None
        first = self.popen.stdout.readline().strip()
        if not first.startswith("emulator listening on "):
            self.stop()
            raise RuntimeError(f"emulator did not start: {first!r}; see {self.log_path}")
        self.url = first.removeprefix("emulator listening on ")
        token = f"ya29.bench-inspector-{uuid.uuid4().hex}"
        self._control("POST", "/oauth/tokens", {"token": token, "principal": "user:bench@vertexops.test"})
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.token = token
        return self

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self.popen is not None and self.popen.stdout is not None:
            with contextlib.suppress(OSError):
                self.popen.stdout.close()
        self.popen = None
        self.http.close()

    # -- control API -----------------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.url}/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json()

    def put_object_from_file(self, bucket: str, name: str, path: Path) -> dict[str, Any]:
        """Serve the file at `path` as gs://bucket/name (read from disk on each download, never held)."""
        result: dict[str, Any] = self._control(
            "POST", "/storage/objects", {"bucket": bucket, "name": name, "path": str(path)}
        )
        return result

    def counts(self) -> Counter[str]:
        """API calls served so far, by method (`tuningJobs.create`, `tuningJobs.list`, ...)."""
        data = self._control("GET", "/requests?method=-")
        return Counter({k: int(v) for k, v in data["counts"].items()})

    def accepted(self, method: str) -> int:
        """Calls of `method` the emulator answered with 200 (a call cut off by a killed client is not one)."""
        data = self._control("GET", f"/requests?method={method}")
        return sum(1 for record in data["requests"] if record.get("status") == 200)

    def clear_requests(self) -> None:
        self._control("DELETE", "/requests")

    def set_time_scale(self, scale: float) -> None:
        self._control("POST", "/clock", {"timeScale": scale})

    def advance(self, seconds: float) -> None:
        self._control("POST", "/clock", {"advanceSeconds": seconds})

    def fail_job(self, name: str, at_step: int | None = None) -> dict[str, Any]:
        """Make a running job fail at `at_step` (default: its next step)."""
        body: dict[str, Any] = {"name": name, "message": "Failed by the benchmark."}
        if at_step is not None:
            body["atStep"] = at_step
        result: dict[str, Any] = self._control("POST", "/jobs:fail", body)
        return result

    def now(self) -> float:
        """Simulated UNIX time."""
        return float(self._control("GET", "/clock")["nowSeconds"])

    # -- the Vertex API itself (these calls are counted in the request log) ----------------------------

    def list_jobs(self, project: str, location: str) -> list[dict[str, Any]]:
        """Every tuning job in one location, all pages."""
        jobs: list[dict[str, Any]] = []
        token = ""
        while True:
            params = {"pageSize": "1000", **({"pageToken": token} if token else {})}
            response = self.http.get(
                f"{self.url}/v1/projects/{project}/locations/{location}/tuningJobs", params=params
            )
            response.raise_for_status()
            page = response.json()
            jobs.extend(page.get("tuningJobs") or [])
            token = page.get("nextPageToken") or ""
            if not token:
                return jobs

    def create_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """`tuningJobs.create` under `parent` (projects/P/locations/L), as the operator would call it."""
        response = self.http.post(f"{self.url}/v1/{parent}/tuningJobs", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def get_job(self, name: str) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/v1/{name}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
