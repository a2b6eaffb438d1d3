"""An HTTP-level stand-in for the WhatsApp Cloud API (Graph API), for tests.

`async with FakeGraph(token=..., phone_number_id=...) as graph:` serves
`{graph.url}/{version}/{phone_number_id}/messages` and `/media` on 127.0.0.1; point WHATSAPP_API_URL at
`graph.url`. It enforces what Meta enforces, answering with Meta's error shape
(`{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}`):

- the Bearer token (190);
- the number's throughput: at most `rate` messages in any sliding second (130429);
- the pair rate: a bucket of `pair_burst` messages per recipient (Meta: bursts of up to 45), refilled one
  per 6 s (131056);
- the 24-hour customer-service window: free-form messages only within 24 h of the person's last
  message, as told by `inbound(wa_id)` (131047); templates and read receipts go any time;
- the interactive limits: ≤3 reply buttons with unique ids and titles ≤20, lists of ≤10 rows in total
  with titles ≤24 and descriptions ≤72, bodies ≤1024, text ≤4096; template parameters without line
  breaks (131009 / 132018).

Tests script any error code with `fail(code, to=...)`, e.g. 131026, 131048, 131049, 131050.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

JSON = dict[str, Any]
WINDOW_S = 24 * 3600
PAIR_INTERVAL_S = 6.0
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
MAX_IMAGE_BYTES = 5 * 1024 * 1024


@dataclass
class GraphCall:
    path: str
    body: JSON
    at: float
    ok: bool
    error_code: int | None = None

    @property
    def to(self) -> str:
        return str(self.body.get("to") or self.body.get("recipient") or "")

    @property
    def kind(self) -> str:
        return str(self.body.get("type", "read" if self.body.get("status") == "read" else ""))

    @property
    def text(self) -> str:
        """What the person reads in this message, whatever its kind."""
        body = self.body
        if body.get("type") == "text":
            return str(body["text"]["body"])
        if body.get("type") == "interactive":
            return str(body["interactive"]["body"]["text"])
        if body.get("type") == "template":
            components = body["template"].get("components", [])
            return " ".join(p["text"] for c in components for p in c.get("parameters", []))
        if body.get("type") == "image":
            return str(body["image"].get("caption", ""))
        return ""


@dataclass
class _Failure:
    code: int
    to: str | None
    times: int
    kinds: frozenset[str] = field(default_factory=frozenset)


class GraphError(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class FakeGraph:
    def __init__(
        self,
        *,
        token: str = "wa-test-token",  # noqa: S107
        phone_number_id: str = "106540352242922",
        version: str = "v26.0",
        rate: float = 80.0,
        pair_burst: int = 45,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token, self.phone_number_id, self.version = token, phone_number_id, version
        self.rate, self.pair_burst, self.clock = rate, pair_burst, clock
        self.url = ""
        self.calls: list[GraphCall] = []
        self.media: dict[str, tuple[str, bytes]] = {}  # id -> (mime type, content)
        self.refusals: dict[int, int] = defaultdict(int)  # error code -> how often
        self._last_inbound: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self._pairs: dict[str, tuple[float, float]] = {}  # recipient -> (tokens, at)
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/{version}/{number}/messages", self._messages)
        app.router.add_post("/{version}/{number}/media", self._upload)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- scripting and inspection

    def inbound(self, wa_id: str, at: float | None = None) -> None:
        """The person wrote to the business: their 24-hour window opens (as Meta sees it)."""
        self._last_inbound[wa_id] = self.clock() if at is None else at

    def fail(
        self, code: int, *, to: str | None = None, times: int = 1, kinds: frozenset[str] = frozenset()
    ) -> None:
        """The next `times` sends (to `to`; of these `kinds`) answer error `code`; -1 for ever."""
        self._failures.append(_Failure(code, to, times, kinds))

    def sent(self, to: str | None = None, kind: str | None = None) -> list[GraphCall]:
        return [
            c
            for c in self.calls
            if c.ok and c.path == "messages" and c.kind != "read" and (to is None or c.to == to)
            and (kind is None or c.kind == kind)
        ]  # fmt: skip

    def texts(self, to: str) -> list[str]:
        return [call.text for call in self.sent(to)]

    def read_receipts(self) -> list[str]:
        return [str(c.body["message_id"]) for c in self.calls if c.ok and c.kind == "read"]

    async def wait_for(self, predicate: Callable[[FakeGraph], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait (without sleeping for time) until the predicate holds after some request."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"condition not met; last calls: {[c.body for c in self.calls[-5:]]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=left)
            except TimeoutError:
                continue

    # --- the API

    async def _messages(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        now = self.clock()
        try:
            self._authorize(request)
            result = self._send(body if isinstance(body, dict) else {}, now)
        except GraphError as error:
            self.calls.append(GraphCall("messages", body, now, ok=False, error_code=error.code))
            self.refusals[error.code] += 1
            self._changed.set()
            return _error(error)
        self.calls.append(GraphCall("messages", body, now, ok=True))
        self._changed.set()
        return web.json_response(result)

    async def _upload(self, request: web.Request) -> web.Response:
        try:
            self._authorize(request)
        except GraphError as error:
            return _error(error)
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField):
            return _error(GraphError(100, "Invalid parameter"))
        media_id = str(next(self._ids) + 900_000)
        self.media[media_id] = (str(form.get("type", "")), upload.file.read())
        self.calls.append(GraphCall("media", {"type": form.get("type")}, self.clock(), ok=True))
        self._changed.set()
        return web.json_response({"id": media_id})

    def _authorize(self, request: web.Request) -> None:
        number = request.match_info["number"]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise GraphError(190, "Invalid OAuth access token", status=401)
        if number != self.phone_number_id or request.match_info["version"] != self.version:
            raise GraphError(100, "Unsupported post request", status=400)

    def _send(self, body: JSON, now: float) -> JSON:
        if body.get("messaging_product") != "whatsapp":
            raise GraphError(100, "messaging_product is required")
        if body.get("status") == "read":
            if not isinstance(body.get("message_id"), str):
                raise GraphError(100, "message_id is required")
            return {"success": True}
        to = str(body.get("to") or body.get("recipient") or "")
        if not to:
            raise GraphError(100, "to is required")
        kind = str(body.get("type", ""))
        self._scripted(to, kind)
        _check_content(kind, body)
        if kind == "image":
            self._check_image(str(body["image"]["id"]))
        self._throughput(now)
        self._pair(to, now)
        last = self._last_inbound.get(to)
        if kind != "template" and (last is None or now - last >= WINDOW_S):
            raise GraphError(131047, "Re-engagement message")
        wamid = f"wamid.FAKE{next(self._ids):010d}"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    def _check_image(self, media_id: str) -> None:
        """An image message shows uploaded media of a type WhatsApp displays, within its size limit
        (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types)."""
        mime_type, content = self.media.get(media_id, ("", b""))
        if mime_type not in IMAGE_TYPES or not 0 < len(content) <= MAX_IMAGE_BYTES:
            raise GraphError(131053, "Media upload error")

    def _scripted(self, to: str, kind: str) -> None:
        for failure in self._failures:
            if failure.times == 0 or (failure.to is not None and failure.to != to):
                continue
            if failure.kinds and kind not in failure.kinds:
                continue
            failure.times -= 1 if failure.times > 0 else 0
            raise GraphError(failure.code, f"scripted error {failure.code}")

    def _throughput(self, now: float) -> None:
        """A sliding one-second window of at most `rate` messages, no burst beyond it."""
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.rate:
            raise GraphError(130429, "Rate limit hit")
        self._recent.append(now)

    def _pair(self, to: str, now: float) -> None:
        tokens, at = self._pairs.get(to, (float(self.pair_burst), now))
        tokens = min(float(self.pair_burst), tokens + (now - at) / PAIR_INTERVAL_S)
        if tokens < 1.0:
            raise GraphError(131056, "(Business Account, Consumer Account) pair rate limit hit")
        self._pairs[to] = (tokens - 1.0, now)


def _check_content(kind: str, body: JSON) -> None:
    def invalid(what: str) -> GraphError:
        return GraphError(131009, f"Parameter value is not valid: {what}")

    if kind == "text":
        text = body.get("text", {}).get("body", "")
        if not isinstance(text, str) or not 1 <= len(text) <= 4096:
            raise invalid("text.body")
    elif kind == "interactive":
        interactive = body.get("interactive", {})
        text = interactive.get("body", {}).get("text", "")
        if not isinstance(text, str) or not 1 <= len(text) <= 1024:
            raise invalid("interactive.body.text")
        action = interactive.get("action", {})
        if interactive.get("type") == "button":
            buttons = action.get("buttons", [])
            ids = [b["reply"]["id"] for b in buttons]
            titles = [b["reply"]["title"] for b in buttons]
            if not 1 <= len(buttons) <= 3 or len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
                raise invalid("buttons")
            if any(len(t) > 20 or not t for t in titles) or any(len(i) > 256 for i in ids):
                raise invalid("button title or id")
        elif interactive.get("type") == "list":
            label = action.get("button", "")
            rows = [row for section in action.get("sections", []) for row in section.get("rows", [])]
            if not label or len(label) > 20 or not 1 <= len(rows) <= 10:
                raise invalid("list")
            ids = [row["id"] for row in rows]
            if len(set(ids)) != len(ids) or any(len(i) > 200 for i in ids):
                raise invalid("row id")
            if any(
                not row["title"] or len(row["title"]) > 24 or len(row.get("description", "")) > 72
                for row in rows
            ):
                raise invalid("row title or description")
        else:
            raise invalid("interactive.type")
    elif kind == "template":
        template = body.get("template", {})
        if not template.get("name") or not template.get("language", {}).get("code"):
            raise invalid("template")
        for component in template.get("components", []):
            for parameter in component.get("parameters", []):
                text = parameter.get("text", "")
                if "\n" in text or "\t" in text or "     " in text:
                    raise GraphError(132018, "There was an issue with the parameters in your template.")
    elif kind in ("image", "document"):
        if not body.get(kind, {}).get("id"):
            raise invalid(f"{kind}.id")
    else:
        raise invalid("type")


def _error(error: GraphError) -> web.Response:
    payload = {
        "error": {
            "message": error.message,
            "type": "OAuthException",
            "code": error.code,
            "error_data": {"messaging_product": "whatsapp", "details": error.message},
            "fbtrace_id": "AbCdEfFake",
        }
    }
    return web.json_response(payload, status=error.status)
