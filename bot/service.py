"""The composition root: builds settings, storage, the core and the adapters, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from redis.exceptions import RedisError

from bot.assembly import (
    SCHEDULE_CHANGED,
    build_editorial,
    build_engine,
    composer,
    default_worker_name,
    limiter_for,
    reply_pacer,
    residents_for,
)
from bot.metrics import METRICS_PATH, Metrics
from bot.progress_reporter import ProgressReporter
from bot.sandbox.adapter import SandboxAdapter, is_loopback, sandbox_settings
from bot.sandbox.channel import Outbox, SandboxChannel
from bot.settings import Settings, TelegramMode
from bot.storage.client import Storage, open_storage
from bot.storage.idhash import IdHasher, load_or_create_secret
from bot.telegram.adapter import Origin, TelegramAdapter, WebhookTarget
from bot.telegram.api import TelegramAPI
from bot.telegram.channel import TelegramChannel
from bot.timer import Timer
from bot.web import build_app
from bot.whatsapp.adapter import WhatsAppAdapter
from bot.whatsapp.webhook import Inbox
from bot.whatsapp.wiring import template_counter, whatsapp_adapter, whatsapp_hook, whatsapp_parts
from broadcasts.channel import ChannelClient
from broadcasts.engine import Engine
from broadcasts.limiter import Limiter
from broadcasts.model import Broadcast
from broadcasts.reply_pacer import ReplyPacer
from broadcasts.scheduler import Scheduler
from city.config import City, CityFileError, load_city
from city.residents import Residents
from city.statistics import snapshot
from city.values import Channel, system_clock
from handlers.conversation import Conversation, build_router
from handlers.router import Services
from handlers.staff import notice_replies
from handlers.texts import Texts
from handlers.values import Reply

log = logging.getLogger(__name__)

# Bot API calls answer within seconds; a stuck connection must not hold a reply forever.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
SEND_CONCURRENCY = 64
# Drafts expire after hours and alerts escalate after minutes: a look every half minute is plenty.
UPKEEP_EVERY_S = 30.0
RELOAD = "reload"
CONTROL_POLL_S = 0.2
# The progress message is edited at most every 3 s (bot/progress_reporter.py); looking each second
# keeps it close to that.
REPORT_EVERY_S = 1.0


class ConfigurationError(RuntimeError):
    """The environment does not describe a service that can run; the message names what to set."""


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = system_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        # Everything the service sleeps for is waiting for a turn to send: counted for /metrics.
        self._sleep = self.metrics.waiting(sleep)
        self.city: City = load_city(settings.city_config)
        self.storage: Storage | None = None
        self.telegram: TelegramAdapter | None = None
        self.whatsapp: WhatsAppAdapter | None = None
        self.inbox: Inbox | None = None
        self.engine: Engine | None = None
        self.services: Services | None = None
        self.reporter: ProgressReporter | None = None
        self.scheduler: Scheduler | None = None
        self.timer: Timer | None = None
        self.sandbox: SandboxAdapter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self.port: int | None = None

    async def start(self) -> None:
        if self.settings.sandbox_mode and not is_loopback(self.settings.http_host):
            # On the sandbox page anyone can act as staff: it must never be reachable from elsewhere.
            raise ConfigurationError(
                "no messenger is configured, so stadtfunk would start its sandbox test chat, which "
                f"listens on loopback only, not on HTTP_HOST={self.settings.http_host}; set "
                "TELEGRAM_BOT_TOKEN (or WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID), or "
                "HTTP_HOST=127.0.0.1 to try the sandbox"
            )
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        self.storage = await open_storage(
            sandbox_settings(settings) if settings.sandbox_mode else settings, service=True
        )
        storage = self.storage
        residents = residents_for(storage, self.city.tz)
        # Enough connections for the senders' in-flight sends plus replies.
        self._session = aiohttp.ClientSession(
            timeout=HTTP_TIMEOUT, connector=aiohttp.TCPConnector(limit=SEND_CONCURRENCY + 16)
        )
        hasher = IdHasher(load_or_create_secret(_secret(settings.id_hash_secret), settings.data_dir))
        telegram: tuple[str, TelegramAPI, TelegramChannel, Limiter] | None = None
        channels: list[tuple[ChannelClient, Limiter]] = []
        if settings.telegram_bot_token is not None:
            token = settings.telegram_bot_token.get_secret_value()
            api = TelegramAPI(self._session, settings.telegram_api_url, token)
            client = TelegramChannel(
                api, settings.telegram_rate_limit, paid_broadcast=settings.telegram_paid_broadcast
            )
            # The bot id (the token's public half) names the budget that every process shares.
            limiter = limiter_for(storage, client, token.partition(":")[0], settings.rate_limit_margin)
            telegram = (token, api, client, limiter)
            channels.append((self.metrics.metered(client), limiter))
        whatsapp = whatsapp_parts(
            settings, session=self._session, storage=storage, hasher=hasher, residents=residents,
            city=lambda: self.city, clock=self.clock,
        )  # fmt: skip
        if whatsapp is not None:
            channels.append((self.metrics.metered(whatsapp.channel), whatsapp.limiter))
        sandbox: tuple[SandboxChannel, Limiter] | None = None
        if settings.sandbox_mode:
            sandbox_client = SandboxChannel(Outbox())
            margin = settings.rate_limit_margin
            sandbox = (sandbox_client, limiter_for(storage, sandbox_client, "sandbox", margin))
            channels.append((self.metrics.metered(sandbox_client), sandbox[1]))
        worker = settings.worker_name or default_worker_name()
        self.engine = build_engine(
            storage=storage,
            city=lambda: self.city,
            channels=channels,
            care=residents,
            hasher=hasher,
            worker=worker,
            clock=self.clock,
            sleep=self._sleep,
        )
        counter = template_counter(whatsapp, storage, lambda: self.city, self.clock) if whatsapp else None
        self.services = self._services(storage, residents, self.engine, channels, templates_needed=counter)
        conversation = Conversation(build_router(), self.services)
        editing: tuple[TelegramAPI, ReplyPacer] | None = None
        if telegram is not None:
            token, api, client, limiter = telegram
            self.telegram = TelegramAdapter(
                token=token,
                api_url=settings.telegram_api_url,
                webhook=self._webhook_target(),
                api=api,
                conversation=conversation,
                residents=residents,
                pacer=reply_pacer(client, limiter, hasher, self.clock, self._sleep),
                clock=self.clock,
                elsewhere=self._dispatch,
            )
            await self.telegram.start()
            # Progress can wait its turn: it borrows no budget ahead, unlike answers to people.
            editing = (api, reply_pacer(client, limiter, hasher, self.clock, self._sleep, lane_s=0.0))
        if whatsapp is not None:
            self.whatsapp, self.inbox = whatsapp_adapter(
                whatsapp, settings=settings, storage=storage, engine=self.engine,
                conversation=conversation, residents=residents, hasher=hasher, worker=worker,
                clock=self.clock, sleep=self._sleep, elsewhere=self._dispatch,
            )  # fmt: skip
            await self.inbox.prepare()
        if telegram is not None or whatsapp is not None:
            self.reporter = ProgressReporter(
                redis=storage.redis,
                keys=storage.keys,
                store=self.engine.store,
                telegram=editing,
                notify=self._dispatch,
                texts=self.services.texts,
                city=lambda: self.city,
                limits=self.services.limits,
                worker=worker,
                clock=self.clock,
            )
        if sandbox is not None:
            sandbox_client, limiter = sandbox
            services = self.services
            self.sandbox = SandboxAdapter(
                outbox=sandbox_client.outbox,
                conversation=conversation,
                residents=residents,
                pacer=reply_pacer(sandbox_client, limiter, hasher, self.clock, self._sleep),
                store=self.engine.store,
                statistics=services.statistics,
                city=lambda: self.city,
                texts=services.texts,
                limits=services.limits,
                clock=self.clock,
            )
        self.engine.start()
        await self._run_loops(storage)
        await self._serve_http()
        log.info("stadtfunk is running for %s", self.city.name)

    async def _run_loops(self, storage: Storage) -> None:
        """The timer, upkeep, control channel, progress reports and the WhatsApp inbox."""
        self.timer = Timer(self.city.tz, clock=self.clock, wake=self.upkeep_once, next_due=self._next_due)
        # What fell due while the service was down goes out now (within the grace) or is held.
        await self.upkeep_once()
        self.timer.start()
        await self.timer.rearm()
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._upkeep_loop()),
            asyncio.create_task(self._listen_for_reload(storage)),
            asyncio.create_task(self._report_loop()),
            asyncio.create_task(self._notice_loop()),
        ]
        if self.inbox is not None:
            self._tasks.append(asyncio.create_task(self.inbox.run(self._stopping)))

    async def upkeep_once(self) -> None:
        """Send what is due, expire old drafts and escalate overdue alerts, telling the staff concerned."""
        if self.services is None or self.scheduler is None:
            return
        now = self.clock()
        notices = await self.scheduler.run_due(now)
        notices += await self.services.desk.upkeep(now)
        replies = [reply for notice in notices for reply in notice_replies(self.services, notice, now)]
        await self._dispatch(replies)

    async def _next_due(self) -> datetime:
        if self.scheduler is None:  # stopping: look again in a while
            return self.clock() + timedelta(seconds=UPKEEP_EVERY_S)
        return await self.scheduler.next_due(self.clock())

    async def _dispatch(self, replies: list[Reply]) -> None:
        """Notifications addressed to people (reply.to), each through the adapter of its messenger; the
        sandbox shows them all, in the chats of the staff they are addressed to."""
        if not replies:
            return
        if self.sandbox is not None:
            await self.sandbox.deliver("", replies)
            return
        telegram = [r for r in replies if r.to is not None and r.to.channel is Channel.TELEGRAM]
        whatsapp = [r for r in replies if r.to is not None and r.to.channel is Channel.WHATSAPP]
        if telegram and self.telegram is not None:
            await self.telegram.deliver("", telegram, Origin(None, None))
        if whatsapp and self.whatsapp is not None:
            await self.whatsapp.deliver("", whatsapp)

    async def reload_city(self) -> bool:
        """Read the city file again (staff, topics, texts) without a restart; a broken file is refused."""
        try:
            city = await asyncio.to_thread(load_city, self.settings.city_config)
        except CityFileError as exc:
            log.error("city file not reloaded, the running one stays: %s", exc)
            return False
        self.city = city
        if self.services is not None:
            await self.services.desk.record_reload(self.clock())
        log.info("city file reloaded: %d topics, %d staff", len(city.topics), len(city.staff))
        return True

    async def _upkeep_loop(self) -> None:
        # Loops end on the stop event rather than by cancellation, which can strand a Redis connection.
        while not self._stopping.is_set():
            try:
                await self.upkeep_once()
            except Exception as exc:
                log.error("desk upkeep failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=UPKEEP_EVERY_S)

    async def _notice_loop(self) -> None:
        """Tell staff what the engine decided on its own: a broadcast paused for WhatsApp's spam limit."""
        while not self._stopping.is_set() and self.engine is not None and self.services is not None:
            try:
                notice = await asyncio.wait_for(self.engine.notices.get(), timeout=CONTROL_POLL_S)
            except TimeoutError:
                continue
            try:
                await self._dispatch(notice_replies(self.services, notice, self.clock()))
            except Exception as exc:
                log.error("notice not delivered: %s", type(exc).__name__)

    async def _report_loop(self) -> None:
        while not self._stopping.is_set():
            for reporter in (self.reporter, self.sandbox):
                if reporter is None:
                    continue
                try:
                    await (reporter.tick() if isinstance(reporter, ProgressReporter) else reporter.report())
                except Exception as exc:
                    log.error("progress report failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=REPORT_EVERY_S)

    async def _listen_for_reload(self, storage: Storage) -> None:
        """`stadtfunk reload` publishes on the control channel, reaching every service process."""
        pubsub = storage.redis.pubsub()
        await pubsub.subscribe(storage.keys.control())
        try:
            while not self._stopping.is_set():
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=CONTROL_POLL_S)
                except RedisError as exc:
                    log.error("control channel failed: %s", type(exc).__name__)
                    await asyncio.sleep(CONTROL_POLL_S)
                    continue
                if message is None:
                    continue
                if message.get("data") == RELOAD:
                    await self.reload_city()
                elif message.get("data") == SCHEDULE_CHANGED and self.timer is not None:
                    await self.timer.rearm()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _services(
        self,
        storage: Storage,
        residents: Residents,
        engine: Engine,
        channels: Sequence[tuple[ChannelClient, Limiter]],
        *,
        templates_needed: Callable[[Broadcast], Awaitable[int]] | None = None,
    ) -> Services:
        compose = composer(lambda: self.city)
        editorial = build_editorial(
            redis=storage.redis,
            keys=storage.keys,
            engine=engine,
            city=lambda: self.city,
            residents=residents,
            clock=self.clock,
            # Every process re-arms its timer, so the one that is free wakes on time.
            on_schedule=lambda: storage.redis.publish(storage.keys.control(), SCHEDULE_CHANGED),
        )
        self.scheduler = editorial.scheduler
        desk = editorial.desk
        margin = 1 - self.settings.rate_limit_margin
        return Services(
            residents=residents,
            city=lambda: self.city,
            texts=Texts.load(),
            clock=self.clock,
            desk=desk,
            render=lambda broadcast, language: compose(broadcast, language).text,
            limits={client.channel: margin / client.pacing.overall.interval for client, _ in channels},
            recent_items=editorial.recent_items,
            pending_digest=editorial.pending_digest,
            statistics=lambda: snapshot(
                storage.redis,
                storage.keys,
                self.city,
                self.clock().astimezone(self.city.tz).date(),
                tuple(client.channel for client, _ in channels),
            ),
            templates_needed=templates_needed,
        )

    def _webhook_target(self) -> WebhookTarget | None:
        settings = self.settings
        if settings.telegram_mode is not TelegramMode.WEBHOOK:
            return None
        # Settings validation guarantees both in webhook mode; this keeps the types honest.
        if settings.telegram_webhook_url is None or settings.telegram_webhook_secret is None:
            raise ConfigurationError(
                "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET"
            )
        return WebhookTarget(
            settings.telegram_webhook_url, settings.telegram_webhook_secret.get_secret_value()
        )

    async def _serve_http(self) -> None:
        target = self._webhook_target() if self.telegram is not None else None
        app = build_app(
            self.ready,
            telegram_feed=self.telegram.feed if self.telegram is not None and target else None,
            telegram_secret=target.secret if target else None,
            whatsapp=whatsapp_hook(self.settings, self.inbox),
        )
        if self.sandbox is not None:
            self.sandbox.install(app)
        app.middlewares.append(self.metrics.middleware)
        metrics = self.metrics.handler(self._refresh_metrics)
        if self.settings.metrics_port is None:
            app.router.add_get(METRICS_PATH, metrics)
        else:
            # On a port of its own, on loopback only: the figures are for the operator's scraper.
            metrics_app = web.Application()
            metrics_app.router.add_get(METRICS_PATH, metrics)
            self._metrics_runner = web.AppRunner(metrics_app, access_log=None)
            await self._metrics_runner.setup()
            metrics_site = web.TCPSite(self._metrics_runner, "127.0.0.1", self.settings.metrics_port)
            await self._listen(metrics_site, "METRICS_PORT", self.settings.metrics_port)
            self.metrics_port = _bound_port(metrics_site, self.settings.metrics_port)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await self._listen(site, f"HTTP_HOST={self.settings.http_host} HTTP_PORT", self.settings.http_port)
        self.port = _bound_port(site, self.settings.http_port)
        log.info("HTTP server listening on http://%s:%s", self.settings.http_host, self.port)
        if self.sandbox is not None:
            # Printed, not only logged: it is the one thing a newcomer running `make run` needs.
            print(
                f"stadtfunk sandbox: no messenger configured; open http://{self.settings.http_host}:"
                f"{self.port}/ to chat as residents and staff",
                flush=True,
            )

    async def _listen(self, site: web.TCPSite, variable: str, port: int) -> None:
        try:
            await site.start()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {variable}={port}: {exc.strerror}; "
                "is another stadtfunk running? Choose another port"
            ) from None

    async def _refresh_metrics(self) -> None:
        if self.storage is not None and self.engine is not None:
            await self.metrics.refresh(self.storage.redis, self.storage.keys, self.city, self.engine.channels)

    async def ready(self) -> bool:
        if self.storage is None:
            return False
        telegram = self.telegram
        if self.settings.telegram_enabled and (telegram is None or not telegram.application.running):
            return False
        if self.settings.whatsapp_enabled and self.whatsapp is None:
            return False
        if self.settings.sandbox_mode and self.sandbox is None:
            return False
        try:
            return bool(await self.storage.redis.ping())
        except RedisError:
            return False

    async def stop(self) -> None:
        self._stopping.set()
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for runner in (self._runner, self._metrics_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._metrics_runner = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self.telegram is not None:
            with contextlib.suppress(Exception):
                await self.telegram.stop()
            self.telegram = None
        self.sandbox = None
        self.whatsapp = None
        self.inbox = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.storage is not None:
            await self.storage.close()
            self.storage = None

    async def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down in order: stop taking work, finish, close."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        reloads: set[asyncio.Task[bool]] = set()

        def reload_on_hangup() -> None:
            task = asyncio.create_task(self.reload_city())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_on_hangup)
        await self.start()
        try:
            await stop.wait()
            log.info("shutting down")
        finally:
            await self.stop()


def _bound_port(site: web.TCPSite, configured: int) -> int:
    """The port actually bound (0 in the settings picks a free one)."""
    sockets = getattr(site._server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else configured


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
