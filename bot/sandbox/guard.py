"""What keeps the sandbox to the person at this computer: on its page anyone can act as staff.

A web page elsewhere must not drive it, neither by posting to it across sites (a `text/plain` form post
needs no CORS preflight) nor by pointing a name of its own at 127.0.0.1 (DNS rebinding). So every route
checks that the request was addressed to a loopback name with the sandbox's own port, and every route of
its API needs the token printed with the address at start; a route that changes anything also needs a
JSON body and, from a browser, the page's own Origin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from base64 import b64encode
from collections.abc import Callable

from aiohttp import web

TOKEN_HEADER = "X-Sandbox-Token"  # noqa: S105 (a header name)
TOKEN_PARAMETER = "t"  # noqa: S105 (a query parameter's name)
LOOPBACK_NAMES = frozenset({"localhost"})
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def is_loopback(host: str) -> bool:
    """A name or address that reaches this machine only: `localhost` or a loopback address."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address(host: str, port: int, token: str) -> str:
    """The page's address with its token, as printed at start."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?{TOKEN_PARAMETER}={token}"


class Guard:
    def __init__(self, port: Callable[[], int | None]) -> None:
        self._port = port
        # New at every start: an address printed earlier, or seen by someone else, stops working.
        self.token = secrets.token_urlsafe(24)

    def check(self, request: web.Request, *, api: bool, changes_state: bool) -> None:
        """Raise 403 unless the request comes from the sandbox's own page (or a local tool with the token)."""
        host = request.headers.get("Host", "")
        if not self._own_host(host):
            raise _refused("the sandbox answers only requests addressed to 127.0.0.1 (or localhost)")
        if api and not hmac.compare_digest(
            request.headers.get(TOKEN_HEADER, "").encode(), self.token.encode()
        ):
            raise _refused("open the address stadtfunk printed at start (with ?t=…)")
        if not changes_state:
            return
        if request.content_type != "application/json":
            raise _refused("the body must be sent as application/json")
        origin = request.headers.get("Origin")
        if origin is not None and _split(origin.removeprefix("http://")) != _split(host):
            raise _refused("only the sandbox's own page may do this")

    def _own_host(self, host: str) -> bool:
        name, port = _split(host)
        return port == self._port() and is_loopback(name)


def _split(host: str) -> tuple[str, int | None]:
    """A Host header (or an Origin without its scheme) as name and port; HTTP's port when none is given."""
    name, colon, port = host.rpartition(":")
    if not colon or (name.startswith("[") and not name.endswith("]")) or host.endswith("]"):
        name, port = host, "80"
    return name.lower(), int(port) if port.isdecimal() and len(port) <= 5 else None


def page_headers(page: str) -> dict[str, str]:
    """The page may run only its own inline script and style, talk only to its own origin, and never
    be framed (a framing page could click its buttons)."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(page):
        hashes[kind].append(f"'sha256-{b64encode(hashlib.sha256(body.encode()).digest()).decode()}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes['script'])}",
            f"style-src {' '.join(hashes['style'])}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _refused(reason: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=reason)
