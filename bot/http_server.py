"""Where the service listens: the public port (webhooks, health, the sandbox page), and /metrics on a
port of its own (METRICS_PORT on METRICS_HOST, loopback unless the operator says otherwise), so that
a reverse proxy publishing the public port never publishes the figures."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.metrics import METRICS_PATH
from bot.settings import ConfigurationError

log = logging.getLogger(__name__)


class ListenError(ConfigurationError):
    """A port could not be bound; the message names the setting to change."""


class HttpServer:
    def __init__(self, host: str, port: int, metrics_host: str, metrics_port: int) -> None:
        self._host = host
        self._port = port
        self._metrics_host = metrics_host
        self._metrics_port = metrics_port
        self._runners: list[web.AppRunner] = []
        self.port: int | None = None
        self.metrics_port: int | None = None

    async def start(
        self, app: web.Application, metrics: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> None:
        metrics_app = web.Application()
        metrics_app.router.add_get(METRICS_PATH, metrics)
        where = f"METRICS_HOST={self._metrics_host} METRICS_PORT"
        self.metrics_port = await self._serve(metrics_app, self._metrics_host, self._metrics_port, where)
        self.port = await self._serve(app, self._host, self._port, f"HTTP_HOST={self._host} HTTP_PORT")
        log.info("HTTP server listening on http://%s:%s", self._host, self.port)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    async def _serve(self, app: web.Application, host: str, port: int, variable: str) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(
                f"cannot listen on {variable}={port}: {exc.strerror}; "
                "is another stadtfunk running? Choose another port"
            ) from None
        # The port actually bound: 0 in the settings picks a free one.
        sockets = getattr(site._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port
