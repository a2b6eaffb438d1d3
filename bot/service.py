"""The composition root: builds settings, storage, the core and the adapters, and starts and stops them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp

from bot.assembly import audit_log, build_engine, default_worker_name, reply_pacer, residents_for
from bot.channels import Channels, build_channels
from bot.control import Announcement, ControlChannel
from bot.feeds import FeedLoop
from bot.http_server import HttpServer
from bot.inbox.consumer import InboxConsumer
from bot.inbox.flood import FloodGate
from bot.inbox.lanes import Lanes
from bot.loops import drain, every
from bot.metrics import Metrics
from bot.outbound import Outbound
from bot.privacy import PrivacyUpkeep, privacy_upkeep
from bot.progress_reporter import ProgressReporter
from bot.sandbox.adapter import SandboxAdapter, sandbox_settings
from bot.sandbox.guard import address, is_loopback
from bot.services import build_services
from bot.settings import ConfigurationError, Settings
from bot.sources import release, source_loops
from bot.storage.client import Storage, check_hasher, open_storage
from bot.storage.data_dir import secure_data_dir
from bot.storage.idhash import IdHasher, hasher_for
from bot.syslog import AuditShipper, SyslogSender, SyslogTarget
from bot.telegram.receiver import webhook_target
from bot.telegram.wiring import TelegramSide, telegram_side
from bot.timer import Timer
from bot.warnings import WarningLoop
from bot.web import build_app
from bot.whatsapp.adapter import WhatsAppAdapter
from bot.whatsapp.wiring import template_counter, whatsapp_adapter, whatsapp_hook
from broadcasts.engine import Engine
from broadcasts.notice import Notice
from broadcasts.scheduler import Scheduler
from city.config import City, CityFileError, load_city
from city.residents import Residents
from city.values import Channel, system_clock
from handlers.conversation import Conversation, build_router
from handlers.router import Services
from handlers.staff_notices import notice_replies
from handlers.texts import Texts

log = logging.getLogger(__name__)

# Bot API calls answer within seconds; a stuck connection must not hold a reply forever.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
SEND_CONCURRENCY = 64
# Drafts expire after hours and alerts escalate after minutes: a look every half minute is plenty.
UPKEEP_EVERY_S = 30.0
# The sandbox page's progress is redrawn this often (the messengers' reports keep their own beat).
REPORT_EVERY_S = 1.0
# The audit log's copy on a syslog server lags at most this much behind (plus a failed try's wait).
AUDIT_COPY_EVERY_S = 2.0
# Taking the figures records the day's subscriber level for the /statistik chart, also on days nobody asks.
FIGURES_EVERY_S = 3600.0
SANDBOX_GREETING = "stadtfunk sandbox: no messenger configured; open {} to chat as residents and staff"


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = system_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        beat: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        # Everything the service sleeps for is waiting for a turn to send: counted for /metrics.
        self._sleep = self.metrics.waiting(sleep)
        # The progress reports' beat: not a wait for a turn to send, so not counted (and apart in tests).
        self._pause = beat
        self.city: City = load_city(settings.city_config)
        self.storage: Storage | None = None
        self.telegram: TelegramSide | None = None
        self.whatsapp: WhatsAppAdapter | None = None
        self.inboxes: list[InboxConsumer] = []
        self.whatsapp_inbox: InboxConsumer | None = None
        # Every messenger's chats share one set of lanes (new for each start) and one flood budget per chat.
        self.lanes = Lanes()
        self.flood = FloodGate(lambda: self.city.flood)
        self.engine: Engine | None = None
        self.services: Services | None = None
        self.reporter: ProgressReporter | None = None
        self.scheduler: Scheduler | None = None
        self.timer: Timer | None = None
        self.sandbox: SandboxAdapter | None = None
        self.audit_shipper: AuditShipper | None = None
        self.privacy: PrivacyUpkeep | None = None
        self.feeds: FeedLoop | None = None
        self.warnings: WarningLoop | None = None
        self.outbound = Outbound()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._http = HttpServer(
            settings.http_host, settings.http_port, settings.metrics_host, settings.metrics_port
        )

    @property
    def port(self) -> int | None:
        return self._http.port

    @property
    def metrics_port(self) -> int | None:
        return self._http.metrics_port

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
        sandbox = settings.sandbox_mode
        # Fresh for every start, so that no adapter of an earlier run is ever handed a reply.
        self.outbound = Outbound()
        # Private whoever made it, before anything is written there.
        secure_data_dir(settings.data_dir)
        hasher = hasher_for(settings)
        self.storage = storage = await open_storage(
            sandbox_settings(settings) if sandbox else settings, service=True
        )
        await check_hasher(storage, hasher)
        residents = residents_for(storage, self.city.tz, hasher)
        # Enough connections for the senders' in-flight sends plus replies.
        self._session = aiohttp.ClientSession(
            timeout=HTTP_TIMEOUT, connector=aiohttp.TCPConnector(limit=SEND_CONCURRENCY + 16)
        )
        city = self._current_city
        channels = build_channels(
            settings, session=self._session, storage=storage, hasher=hasher, city=city, clock=self.clock,
            sandbox=sandbox,
        )  # fmt: skip
        metered = [(self.metrics.metered(client), limiter) for client, limiter in channels.pairs()]
        worker = settings.worker_name or default_worker_name()
        texts = Texts.load()
        self.engine = engine = build_engine(
            storage=storage, city=city, channels=metered, care=residents, hasher=hasher,
            worker=worker, clock=self.clock, sleep=self._sleep, texts=texts,
        )  # fmt: skip
        whatsapp = channels.whatsapp
        audit = audit_log(storage, settings)
        self.services, self.scheduler = build_services(
            storage=storage, residents=residents, engine=engine, channels=metered, city=city,
            clock=self.clock, texts=texts, rate_limit_margin=settings.rate_limit_margin, audit=audit,
            templates_needed=template_counter(whatsapp, storage, city, self.clock) if whatsapp else None,
        )  # fmt: skip
        if settings.audit_syslog is not None:
            target = SyslogTarget.parse(settings.audit_syslog)
            self.audit_shipper = AuditShipper(audit, SyslogSender(target), worker)
        self.privacy = privacy_upkeep(
            storage=storage, residents=residents, engine=engine, city=city, clock=self.clock,
            settings=settings, worker=worker,
        )  # fmt: skip
        conversation = Conversation(build_router(), self.services)
        await self._start_adapters(
            channels, conversation, residents, hasher, worker,
            storage=storage, engine=engine, services=self.services,
        )  # fmt: skip
        engine.start()
        await self._start_loops(storage, engine)
        await self._serve_http()
        log.info("stadtfunk is running for %s", self.city.name)

    async def _start_adapters(
        self,
        channels: Channels,
        conversation: Conversation,
        residents: Residents,
        hasher: IdHasher,
        worker: str,
        *,
        storage: Storage,
        engine: Engine,
        services: Services,
    ) -> None:
        """Each messenger's adapter, registered with the outbound router; then who reports progress."""
        store = engine.store
        outbound, clock, sleep, city = self.outbound, self.clock, self._sleep, self._current_city
        editing = None
        self.lanes, self.inboxes = Lanes(), []
        lanes, flood = self.lanes, self.flood
        if (telegram := channels.telegram) is not None:
            self.telegram = telegram_side(
                telegram, settings=self.settings, storage=storage, conversation=conversation,
                residents=residents, hasher=hasher, worker=worker, clock=clock, sleep=sleep,
                outbound=outbound, lanes=lanes, flood=flood, city=city,
            )  # fmt: skip
            await self.telegram.start()
            self.inboxes.append(self.telegram.inbox)
            outbound.register(Channel.TELEGRAM, self.telegram.adapter.notify)
            # The progress message asks in the staff lane, the same pacer as every answer.
            pacer = reply_pacer(telegram.client, telegram.limiter, hasher, clock, sleep, city=city)
            editing = (telegram.api, pacer)
        if (whatsapp := channels.whatsapp) is not None:
            self.whatsapp, self.whatsapp_inbox = whatsapp_adapter(
                whatsapp, settings=self.settings, storage=storage, engine=engine,
                conversation=conversation, residents=residents, hasher=hasher, worker=worker,
                clock=clock, sleep=sleep, outbound=outbound, lanes=lanes, flood=flood, city=city,
            )  # fmt: skip
            await self.whatsapp_inbox.stream.prepare()
            self.inboxes.append(self.whatsapp_inbox)
            outbound.register(Channel.WHATSAPP, self.whatsapp.notify)
        if self.telegram is not None or self.whatsapp is not None:
            self.reporter = ProgressReporter(
                redis=storage.redis, keys=storage.keys, store=store, telegram=editing,
                notify=outbound.send, texts=services.texts, city=self._current_city,
                limits=services.limits, worker=worker, clock=clock, sleep=self._pause,
            )  # fmt: skip
        if (sandbox := channels.sandbox) is not None:
            paced = reply_pacer(sandbox.client, sandbox.limiter, hasher, clock, sleep, city=city)
            self.sandbox = SandboxAdapter(
                outbox=sandbox.client.outbox, conversation=conversation, residents=residents, pacer=paced,
                store=store, statistics=services.statistics, city=self._current_city,
                texts=services.texts, limits=services.limits, clock=clock, port=lambda: self.port,
            )  # fmt: skip
            outbound.show_everything_in(self.sandbox.notify)
            residents.erased.append(self.sandbox.forget)
            await self.sandbox.start()

    async def _start_loops(self, storage: Storage, engine: Engine) -> None:
        """The timer, upkeep, control channel, progress reports, the inboxes and Telegram's long poll."""
        self.timer = Timer(self.city.tz, clock=self.clock, wake=self.upkeep_once, next_due=self._next_due)
        # What fell due while the service was down goes out now (within the grace) or is held.
        await self.upkeep_once()
        self.timer.start()
        await self.timer.rearm()
        self._stopping.clear()
        control = ControlChannel(storage.redis, storage.keys)
        actions = {Announcement.RELOAD: self.reload_city, Announcement.SCHEDULE_CHANGED: self._rearm}
        self._tasks = [
            asyncio.create_task(every(UPKEEP_EVERY_S, self.upkeep_once, self._stopping, "desk upkeep")),
            asyncio.create_task(every(UPKEEP_EVERY_S, self._privacy, self._stopping, "privacy upkeep")),
            asyncio.create_task(control.listen(self._stopping, actions)),
            asyncio.create_task(drain(engine.notices, self._tell_staff, self._stopping, "staff notice")),
            asyncio.create_task(every(FIGURES_EVERY_S, self._figures, self._stopping, "daily figures")),
        ]
        if self.reporter is not None:
            self._tasks.append(asyncio.create_task(self.reporter.run(self._stopping)))
        if self.sandbox is not None:
            report = every(REPORT_EVERY_S, self.sandbox.report, self._stopping, "sandbox progress")
            self._tasks.append(asyncio.create_task(report))
        self._tasks += [asyncio.create_task(inbox.run(self._stopping)) for inbox in self.inboxes]
        if self.telegram is not None and self.telegram.polling:
            self._tasks.append(asyncio.create_task(self.telegram.receiver.poll(self._stopping)))
        if self.audit_shipper is not None:
            copy = every(AUDIT_COPY_EVERY_S, self.audit_shipper.ship, self._stopping, "audit copy to syslog")
            self._tasks.append(asyncio.create_task(copy))
        self.feeds, self.warnings = source_loops(
            settings=self.settings, storage=storage, session=self._session, engine=self.engine,
            services=self.services, clock=self.clock, send=self.outbound.send,
        )  # fmt: skip
        for loop in (self.feeds, self.warnings):
            if loop is not None:
                self._tasks.append(asyncio.create_task(loop.run(self._stopping)))

    def _current_city(self) -> City:
        """The city as of now: a reload swaps it while everything runs."""
        return self.city

    async def upkeep_once(self) -> None:
        """Send what is due, expire old drafts and escalate overdue alerts, telling the staff concerned."""
        if self.services is None or self.scheduler is None:
            return
        now = self.clock()
        notices = await self.scheduler.run_due(now)
        notices += await self.services.desk.upkeep(now)
        await self.outbound.send(
            [r for notice in notices for r in notice_replies(self.services, notice, now)]
        )

    async def _privacy(self) -> None:
        if self.privacy is not None:
            await self.privacy.once()

    async def _next_due(self) -> datetime:
        if self.scheduler is None:  # stopping: look again in a while
            return self.clock() + timedelta(seconds=UPKEEP_EVERY_S)
        return await self.scheduler.next_due(self.clock())

    async def _rearm(self) -> None:
        if self.timer is not None:
            await self.timer.rearm()

    async def _figures(self) -> None:
        if self.services is not None:
            await self.services.statistics()

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

    async def _tell_staff(self, notice: Notice) -> None:
        """What the engine decided on its own (a broadcast paused for WhatsApp's spam limit)."""
        if self.services is not None:
            await self.outbound.send(notice_replies(self.services, notice, self.clock()))

    async def _serve_http(self) -> None:
        target = webhook_target(self.settings) if self.telegram is not None else None
        accept = self.telegram.inbox.stream.accept if self.telegram is not None and target else None
        whatsapp = whatsapp_hook(self.settings, self.whatsapp_inbox.stream if self.whatsapp_inbox else None)
        secret = target.secret if target else None
        app = build_app(self.ready, telegram_accept=accept, telegram_secret=secret, whatsapp=whatsapp)
        if self.sandbox is not None:
            self.sandbox.install(app)
        app.middlewares.append(self.metrics.middleware)
        await self._http.start(app, self.metrics.handler(self._refresh_metrics))
        if self.sandbox is not None:
            # Printed, not only logged: it is the one thing a newcomer running `make run` needs.
            print(SANDBOX_GREETING.format(self.sandbox_address), flush=True)

    @property
    def sandbox_address(self) -> str | None:
        """The sandbox page with its token for this start; None when not running as the sandbox."""
        if self.sandbox is None or self.port is None:
            return None
        return address(self.settings.http_host, self.port, self.sandbox.guard.token)

    async def _refresh_metrics(self) -> None:
        if self.storage is not None and self.engine is not None:
            redis, keys = self.storage.redis, self.storage.keys
            await self.metrics.refresh(redis, keys, self.city, self.engine.channels)
            await self.metrics.refresh_sources(redis, keys, self.city, self.clock())

    async def ready(self) -> bool:
        if self.storage is None:
            return False
        telegram = self.telegram
        if self.settings.telegram_enabled and (telegram is None or not telegram.receiver.running):
            return False
        if self.settings.whatsapp_enabled and self.whatsapp is None:
            return False
        if self.settings.sandbox_mode and self.sandbox is None:
            return False
        # 503 while no primary answers (on a cluster: while any part of the data has none), so that a load
        # balancer sends webhooks to a process that can store them; the client reconnects by itself.
        return await self.storage.reachable()

    async def stop(self) -> None:
        self._stopping.set()
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.lanes.close()
        await release(self.feeds, self.warnings)
        self.feeds = self.warnings = None
        await self._http.stop()
        if self.audit_shipper is not None:
            await self.audit_shipper.ship()  # what the last moments recorded
            await self.audit_shipper.close()
            self.audit_shipper = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self.telegram is not None:
            await self.telegram.receiver.stop()
            self.telegram = None
        self.sandbox = self.privacy = self.whatsapp = self.whatsapp_inbox = None
        self.inboxes = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.storage is not None:
            await self.storage.close()
            self.storage = None
