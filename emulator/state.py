"""Everything one emulator instance knows: settings, clock, stores, faults and the request log."""

from __future__ import annotations

import random
import threading

from emulator.clock import SimClock
from emulator.config import EmulatorConfig
from emulator.faults import FaultInjector, JobFailures
from emulator.gemini_models import GeminiModels
from emulator.generation import GenerationLog
from emulator.iam import Iam
from emulator.oauth import OAuthState
from emulator.requestlog import RequestLog
from emulator.storage import Buckets
from emulator.vertex_jobs import VertexJobs
from emulator.vertex_metrics import VertexMetrics
from emulator.vertex_resources import TunedResources


class EmulatorState:
    """Shared by the HTTP handler threads and the in-process Python API."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = SimClock(config.time_scale, start=config.clock_start)
        self.log = RequestLog(config.request_log_limit)
        self.generations = GenerationLog()
        # Registered identities outlive `reset`, as the accounts of a project outlive its jobs.
        self.oauth = OAuthState()
        self._lock = threading.Lock()
        self._build()

    def _build(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.faults = FaultInjector(self.rng)
        self.failures = JobFailures(self.rng)
        self.vertex = VertexJobs(self.config, self.clock, self.rng, self.failures)
        self.metrics = VertexMetrics(self.vertex)
        self.tuned = TunedResources(self.vertex, self.clock, self.rng)
        self.gemini = GeminiModels(self.config, self.clock, self.rng, self.failures)
        self.iam = Iam(self.config.project_number)
        self.storage = Buckets(self.iam)

    def reset(self) -> None:
        """Forget every job, model, fault and logged request; re-seed the random generator."""
        with self._lock:
            self._build()
            self.log.clear()
            self.generations.clear()
