"""GET /metrics: the bot in Prometheus' text format (docs/operations.md has a scrape config).

The bot's own CollectorRegistry, made with the route module (nothing is registered at import,
and the library's global registry is not used). What is counted as it happens (jobs ending)
goes into a histogram and counters through JobService's end hook; everything else is read when
Prometheus scrapes:

| metric | what |
|---|---|
| riffusion_queue_jobs{state} | jobs waiting and running (this process's view of the queue) |
| riffusion_job_duration_seconds{kind} | histogram: queued to done, jobs that succeeded |
| riffusion_jobs_ended_total{kind,outcome} | jobs that ended: done, failed, cancelled, suspended |
| riffusion_job_failures_total{kind} | jobs that failed |
| riffusion_steps_per_second | measured UNet steps per second (absent until measured) |
| riffusion_gpu_memory_allocated_bytes | torch's CUDA memory in this process (absent: no GPU here) |
| riffusion_health_problems{kind} | 1 per problem /healthz reports (disk, database, workers) |
| riffusion_discord_connects_total, ..._disconnects_total, ..._resumes_total | the gateway |
| riffusion_delivery_retries_total | result posts Discord did not take and that were retried |
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from bot.engine.job_queue import JobQueue
from bot.jobs.delivery import DeliveryService
from bot.jobs.health import Health
from bot.jobs.service import JobEnd, JobService

JOB_SECONDS_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


@dataclass
class GatewayEvents:
    """Counts of the Discord gateway's events, kept by the bot (bot/app/client.py)."""

    connects: int = 0
    disconnects: int = 0
    resumes: int = 0

    def saw(self, event_name: str) -> None:
        """One more of the event, if it is one of the counted ones."""
        if event_name == "connect":
            self.connects += 1
        elif event_name == "disconnect":
            self.disconnects += 1
        elif event_name == "resumed":
            self.resumes += 1


class LiveValues:
    """The values read at scrape time (a prometheus_client Collector)."""

    def __init__(
        self, queue: JobQueue, health: Health, deliveries: DeliveryService, gateway: GatewayEvents
    ) -> None:
        self.queue = queue
        self.health = health
        self.deliveries = deliveries
        self.gateway = gateway

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("riffusion_queue_jobs", "Jobs in the queue", labels=["state"])
        jobs.add_metric(["waiting"], self.queue.waiting_count())
        jobs.add_metric(["running"], self.queue.running_count())
        yield jobs
        rate = self.queue.seconds_per_cost
        if rate:
            yield GaugeMetricFamily(
                "riffusion_steps_per_second", "Measured UNet steps per second", value=1 / rate
            )
        allocated = gpu_memory_allocated()
        if allocated is not None:
            yield GaugeMetricFamily(
                "riffusion_gpu_memory_allocated_bytes",
                "GPU memory torch has allocated in this process",
                value=allocated,
            )
        problems = GaugeMetricFamily(
            "riffusion_health_problems", "Problems /healthz reports, 1 each", labels=["kind"]
        )
        for kind in self.health.by_kind:
            problems.add_metric([kind], 1)
        yield problems
        for name, value in (
            ("connects", self.gateway.connects),
            ("disconnects", self.gateway.disconnects),
            ("resumes", self.gateway.resumes),
        ):
            yield CounterMetricFamily(
                f"riffusion_discord_{name}", f"Discord gateway {name}", value=value
            )
        yield CounterMetricFamily(
            "riffusion_delivery_retries",
            "Result posts Discord did not take, retried",
            value=self.deliveries.retries,
        )


def gpu_memory_allocated() -> int | None:
    """torch's CUDA memory, where this process has CUDA in use (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return int(torch.cuda.memory_allocated())


class MetricsRoutes:
    """/metrics from a registry of the bot's own."""

    def __init__(
        self,
        queue: JobQueue,
        health: Health,
        jobs: JobService,
        deliveries: DeliveryService,
        gateway: GatewayEvents,
    ) -> None:
        self.registry = CollectorRegistry()
        self.job_seconds = Histogram(
            "riffusion_job_duration_seconds",
            "Seconds from queued to done, jobs that succeeded",
            ["kind"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.jobs_ended = Counter(
            "riffusion_jobs_ended", "Jobs that ended", ["kind", "outcome"], registry=self.registry
        )
        self.failures = Counter(
            "riffusion_job_failures", "Jobs that failed", ["kind"], registry=self.registry
        )
        self.registry.register(LiveValues(queue, health, deliveries, gateway))
        jobs.on_end.append(self.job_ended)

    def job_ended(self, end: JobEnd) -> None:
        self.jobs_ended.labels(end.kind, end.outcome).inc()
        if end.outcome == "done":
            self.job_seconds.labels(end.kind).observe(end.seconds)
        elif end.outcome == "failed":
            self.failures.labels(end.kind).inc()

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.metrics)]

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}
        )
