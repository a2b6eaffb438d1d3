"""Prometheus metrics: counters this process keeps, and gauges read from Redis when scraped.

Each service has its own registry, so that two services in one process (tests) never share a counter.
Labels are channels, outcomes, priorities and topics: never a person.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from broadcasts.channel import ChannelClient, Message, Pacing, Sent
from broadcasts.outcome import SendError
from broadcasts.queue import depth
from broadcasts.sources import Sources
from broadcasts.warning_threads import source_id as warnings_source
from city.config import City
from city.connection import RedisClient
from city.keys import Keys
from city.residents import subscriber_counts
from city.values import Channel
from handlers.staff_feeds import source_id as feed_source

METRICS_PATH = "/metrics"
# Where people's messages arrive: the Telegram (and later WhatsApp) webhooks and the sandbox page.
Handler = Callable[[web.Request], Awaitable[web.Response]]
INBOUND_PATHS = {"/webhooks/telegram": "tg", "/webhooks/whatsapp": "wa", "/sandbox/send": "sb"}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "stadtfunk_deliveries",
            "Broadcast send attempts by channel and outcome (sent, or the problem the platform named)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.rate_limit_wait = Counter(
            "stadtfunk_rate_limit_wait_seconds",
            "Time senders and replies waited for their turn in the shared limiter",
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "stadtfunk_webhook_seconds",
            "Time from an inbound webhook request to its answer, by channel",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "stadtfunk_queue_depth",
            "Deliveries waiting in the queue by channel and priority",
            ["channel", "priority"],
            registry=self.registry,
        )
        self.subscribers = Gauge(
            "stadtfunk_subscribers",
            "Subscribers per topic and channel, at once and daily digest",
            ["topic", "channel"],
            registry=self.registry,
        )

        self.source_age = Gauge(
            "stadtfunk_source_last_good_poll_age_seconds",
            "Seconds since each polled source (official warnings, a feed) last answered well; +Inf: never",
            ["source"],
            registry=self.registry,
        )

    def metered(self, client: ChannelClient) -> MeteredChannel:
        return MeteredChannel(client, self)

    def waiting(self, sleep: Callable[[float], Awaitable[None]]) -> Callable[[float], Awaitable[None]]:
        """The engine's and the reply pacers' sleep: all of it is waiting for a turn to send."""

        async def counted(seconds: float) -> None:
            self.rate_limit_wait.inc(max(seconds, 0.0))
            await sleep(seconds)

        return counted

    async def refresh(self, redis: RedisClient, keys: Keys, city: City, channels: Sequence[Channel]) -> None:
        """Read the gauges from Redis, the truth every process shares."""
        for channel in channels:
            for priority, count in (await depth(redis, keys, channel)).items():
                self.queue_depth.labels(channel.value, priority.name.lower()).set(count)
            counts = await subscriber_counts(redis, keys, [(topic.id, channel) for topic in city.topics])
            for (topic_id, _), count in counts.items():
                self.subscribers.labels(topic_id, channel.value).set(count)

    async def refresh_sources(self, redis: RedisClient, keys: Keys, city: City, now: datetime) -> None:
        """The age of each source's last good poll: /readyz stays ready while one is down; this shows it."""
        sources = Sources(redis, keys, down_after=1, lease_s=1)
        polled = [feed_source(feed) for feed in city.feeds]
        polled += [warnings_source(city.warnings)] if city.warnings else []
        for source_id in polled:
            good = (await sources.status(source_id)).last_good
            self.source_age.labels(source_id).set((now - good).total_seconds() if good else math.inf)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        channel = INBOUND_PATHS.get(request.path)
        if channel is None or request.method != "POST":
            return await handler(request)
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            self.webhook_latency.labels(channel).observe(time.perf_counter() - started)

    def handler(
        self, refresh: Callable[[], Awaitable[None]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def metrics(_: web.Request) -> web.Response:
            await refresh()
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return metrics


class MeteredChannel:
    """A channel client that counts each send by its outcome; everything else is the client's."""

    def __init__(self, client: ChannelClient, metrics: Metrics) -> None:
        self._client = client
        self._metrics = metrics
        self.channel: Channel = client.channel
        self.pacing: Pacing = client.pacing

    async def send(self, chat_id: str, message: Message) -> Sent:
        try:
            sent = await self._client.send(chat_id, message)
        except SendError as error:
            self._metrics.deliveries.labels(self.channel.value, error.problem.value).inc()
            raise
        self._metrics.deliveries.labels(self.channel.value, "sent").inc()
        return sent

    def is_group(self, chat_id: str) -> bool:
        return self._client.is_group(chat_id)
