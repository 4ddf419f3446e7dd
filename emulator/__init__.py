"""A fake Vertex AI and Gemini API for tests, benchmarks and `vertexops dev`: a real HTTP server on loopback
with time-scaled job lifecycles, metrics, fault injection and a request log."""

from emulator.config import EmulatorConfig
from emulator.faults import FaultRule, JobFailureRule
from emulator.requestlog import RequestRecord
from emulator.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "FaultRule", "JobFailureRule", "RequestRecord"]
