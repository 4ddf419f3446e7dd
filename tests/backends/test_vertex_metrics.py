"""Metrics of many running jobs come from shared batchRead calls, with each job's series resolved once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from controller.backends.vertex_metrics import MetricsPoller
from controller.google.vertex import VertexClient
from controller.testenv.google_credentials import inspector_auth
from emulator.config import EmulatorConfig
from emulator.server import Emulator

PROJECT, LOCATION = "metrics-test", "us-central1"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(time_scale=0.001, pending_seconds=1, step_seconds=1, total_steps=500)) as e:
        yield e


def _create(client: VertexClient, count: int) -> list[str]:
    body = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://bucket/train.jsonl",
            "validationDatasetUri": "gs://bucket/validation.jsonl",
        },
    }
    return [client.create_tuning_job(PROJECT, LOCATION, body).name for _ in range(count)]


def test_ten_jobs_share_batch_reads_and_resolve_once(emu: Emulator) -> None:
    ticks = itertools.count()
    with VertexClient(base_url=emu.url, auth=inspector_auth(emu)) as client:
        names = _create(client, 10)
        emu.advance(200)  # every job running, with training and evaluation points
        jobs = [client.get_tuning_job(n) for n in names]
        poller = MetricsPoller(client, clock=lambda: float(next(ticks)))

        emu.clear_requests()
        readings = [poller.latest(PROJECT, LOCATION, job, max_age=1000) for job in jobs]
        assert all(r is not None and r.metrics.eval_total_loss is not None for r in readings)
        # Resolution is per job (3 calls each), and each newcomer is read once on its own.
        assert emu.count("contexts.get") == 10
        assert emu.count("tensorboardTimeSeries.list") == 10
        assert emu.count("tensorboards.batchRead") == 10

        emu.clear_requests()
        for job in jobs:
            poller.latest(PROJECT, LOCATION, job, max_age=1000)
        assert emu.count() == 0, "a fresh enough refresh is served from memory"

        emu.advance(20)
        emu.clear_requests()
        later = [poller.latest(PROJECT, LOCATION, job, max_age=0) for job in jobs[:1]]
        assert emu.count("tensorboards.batchRead") == 3, "one refresh: 60 series in 3 calls for 10 jobs"
        assert emu.count("contexts.get") == 0
        assert later[0] is not None and later[0].metrics.train_total_loss is not None
        assert later[0].metrics.train_total_loss.step > readings[0].metrics.train_total_loss.step  # type: ignore[union-attr]


def test_unchanged_values_keep_their_read_time(emu: Emulator) -> None:
    with VertexClient(base_url=emu.url, auth=inspector_auth(emu)) as client:
        (name,) = _create(client, 1)
        emu.advance(30)
        job = client.get_tuning_job(name)
        poller = MetricsPoller(client)
        first = poller.latest(PROJECT, LOCATION, job, max_age=0)
        again = poller.latest(PROJECT, LOCATION, job, max_age=0)  # the emulator's clock did not move
        assert first is not None and again is not None
        assert again.read_at == first.read_at, "an unchanged reading must not rewrite status.readTime"
        final = poller.final(PROJECT, LOCATION, job)
        assert final is not None and final.read_at >= first.read_at


def test_series_not_logged_yet_are_looked_up_once_per_refresh_interval(emu: Emulator) -> None:
    clock = [0.0]
    with VertexClient(base_url=emu.url, auth=inspector_auth(emu)) as client:
        (name,) = _create(client, 1)
        emu.advance(30)  # running, training series logged, no evaluation point yet
        job = client.get_tuning_job(name)
        poller = MetricsPoller(client, clock=lambda: clock[0])
        emu.clear_requests()
        for _ in range(5):  # five reconciles within one refresh interval
            reading = poller.latest(PROJECT, LOCATION, job, max_age=60)
            assert reading is not None and reading.metrics.eval_total_loss is None
        assert emu.count("tensorboardTimeSeries.list") == 1
        emu.advance(200)  # evaluation points now exist
        clock[0] = 61.0
        reading = poller.latest(PROJECT, LOCATION, job, max_age=60)
        assert emu.count("tensorboardTimeSeries.list") == 2
        assert reading is not None and reading.metrics.eval_total_loss is not None


def test_looks_for_missing_series_back_off_while_they_find_nothing_new(emu: Emulator) -> None:
    """A job far from its first evaluation: its training metrics are read at every refresh, but its series
    are listed again after 1, 2, 4, then 8 refresh intervals (the most), not at every refresh."""
    clock = [0.0]
    with VertexClient(base_url=emu.url, auth=inspector_auth(emu)) as client:
        (name,) = _create(client, 1)
        emu.advance(30)  # running, training series logged; the first evaluation is at step 50
        job = client.get_tuning_job(name)
        poller = MetricsPoller(client, clock=lambda: clock[0])
        emu.clear_requests()
        looked_at = []
        for second in range(0, 2000, 10):  # a reconcile every 10 s, refresh interval 10 s
            clock[0] = float(second)
            before = emu.count("tensorboardTimeSeries.list")
            reading = poller.latest(PROJECT, LOCATION, job, max_age=10)
            assert reading is not None and reading.metrics.train_total_loss is not None
            if emu.count("tensorboardTimeSeries.list") > before:
                looked_at.append(second)
        # The first look (at 0) found the training series; the next ones wait more than 10, 20, 40, then 80 s
        # (the most) after the one before (the first reconcile after that: 10 s later).
        gaps = [b - a for a, b in itertools.pairwise(looked_at)]
        assert gaps[:4] == [20, 30, 50, 90] and set(gaps[4:]) == {90}, looked_at
        assert emu.count("tensorboards.batchRead") >= 99, "the training metrics were read at every refresh"

        emu.advance(200)  # the evaluation series now exist: the next look finds them, and looks stop
        for second in range(2000, 2200, 10):
            clock[0] = float(second)
            reading = poller.latest(PROJECT, LOCATION, job, max_age=10)
        assert reading is not None and reading.metrics.eval_total_loss is not None
        lists = emu.count("tensorboardTimeSeries.list")
        for second in range(2200, 3000, 10):
            clock[0] = float(second)
            poller.latest(PROJECT, LOCATION, job, max_age=10)
        assert emu.count("tensorboardTimeSeries.list") == lists, "complete: never listed again"


def test_the_last_read_of_an_ended_job_looks_for_its_series_whatever_the_backoff(emu: Emulator) -> None:
    clock = [0.0]
    with VertexClient(base_url=emu.url, auth=inspector_auth(emu)) as client:
        (name,) = _create(client, 1)
        emu.advance(30)  # training series only
        poller = MetricsPoller(client, clock=lambda: clock[0])
        poller.latest(PROJECT, LOCATION, client.get_tuning_job(name), max_age=1000)
        emu.advance(600)  # the job has ended, with its evaluation series
        clock[0] = 1.0  # well within the wait before the next look
        final = poller.final(PROJECT, LOCATION, client.get_tuning_job(name))
        assert final is not None and final.metrics.eval_total_loss is not None
