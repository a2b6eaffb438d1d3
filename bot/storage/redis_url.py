"""REDIS_URL read into what to connect to: one server, the primary a Sentinel names, or a Cluster.

The three forms:

- `redis://[[user]:password@]host:port/db`, `rediss://…` (TLS) and `unix:///path` (the embedded
  server): one server, read by redis-py itself;
- `redis+sentinel://[:password@]host1:26379,host2:26379/<service name>/<db>`: the primary the sentinels
  name for the service; the password is the servers' and the sentinels' (Redis's `requirepass` and
  Sentinel's own `requirepass`, set to the same value);
- `redis+cluster://[:password@]host1:7000,host2:7001/`: any nodes of a Redis Cluster, which tell the
  client the rest.

Errors name the part that is wrong and never repeat the URL: it may hold the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

SENTINEL_PORT = 26379
REDIS_PORT = 6379


class Mode(StrEnum):
    SINGLE = "single"
    SENTINEL = "sentinel"
    CLUSTER = "cluster"


class RedisUrlError(ValueError):
    """REDIS_URL cannot be read; the message says which part and how it should look."""


@dataclass(frozen=True, slots=True)
class RedisTarget:
    mode: Mode
    url: str = ""  # a single server's URL, for redis-py to read
    nodes: tuple[tuple[str, int], ...] = ()  # the sentinels, or the cluster nodes to start from
    username: str | None = None
    password: str | None = None
    service: str = ""  # the Sentinel service name
    db: int = 0


SINGLE_SCHEMES = ("redis", "rediss", "unix")
FORMS = (
    "redis://host:6379/0, rediss://…, redis+sentinel://[:password@]host1:26379,host2:26379/<service>/<db> "
    "or redis+cluster://[:password@]host1:7000,host2:7001/"
)


def parse_redis_url(url: str) -> RedisTarget:
    scheme, separator, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not separator:
        raise RedisUrlError(f"REDIS_URL must look like {FORMS}")
    if scheme in SINGLE_SCHEMES:
        return RedisTarget(Mode.SINGLE, url=url.strip())
    if scheme == "redis+sentinel":
        return _sentinel(rest)
    if scheme == "redis+cluster":
        return _cluster(rest)
    raise RedisUrlError(f"REDIS_URL starts with an unknown scheme {scheme!r}; it must look like {FORMS}")


def _sentinel(rest: str) -> RedisTarget:
    username, password, nodes, path = _split(rest, "redis+sentinel", SENTINEL_PORT)
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise RedisUrlError(
            "REDIS_URL for Sentinel must name the service and database after the hosts: "
            "redis+sentinel://host1:26379,host2:26379/<service name>/<db>"
        )
    service = unquote(parts[0])
    db = _db(parts[1]) if len(parts) == 2 else 0
    return RedisTarget(
        Mode.SENTINEL, nodes=nodes, username=username, password=password, service=service, db=db
    )


def _cluster(rest: str) -> RedisTarget:
    username, password, nodes, path = _split(rest, "redis+cluster", REDIS_PORT)
    if path.strip("/") not in ("", "0"):
        raise RedisUrlError(
            "REDIS_URL for a Redis Cluster ends after the hosts (a cluster has only database 0): "
            "redis+cluster://host1:7000,host2:7001/"
        )
    return RedisTarget(Mode.CLUSTER, nodes=nodes, username=username, password=password)


def _split(
    rest: str, scheme: str, default_port: int
) -> tuple[str | None, str | None, tuple[tuple[str, int], ...], str]:
    """user, password, hosts and path of `[user:password@]host:port,host:port/path`."""
    location, slash, path = rest.partition("/")
    if "?" in location or "?" in path or "#" in path:
        raise RedisUrlError(f"REDIS_URL for {scheme}:// takes no options after '?'")
    credentials, at, hosts = location.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = credentials.partition(":")
        if not colon:
            raise RedisUrlError(f"REDIS_URL: write the password as {scheme}://:password@host…")
        username, password = unquote(user) or None, unquote(secret) or None
    nodes = tuple(_node(host, default_port, scheme) for host in hosts.split(","))
    return username, password, nodes, slash + path


def _node(text: str, default_port: int, scheme: str) -> tuple[str, int]:
    # A bracketed IPv6 address ([::1]:26379) has colons of its own.
    probe = urlsplit(f"//{text.strip()}")
    try:
        host, port = probe.hostname, probe.port
    except ValueError:
        host, port = None, None
    if not host:
        raise RedisUrlError(f"REDIS_URL for {scheme}:// lists a host that is not host:port")
    return host, port or default_port


def _db(text: str) -> int:
    if not text.isdecimal():
        raise RedisUrlError("REDIS_URL for Sentinel ends with the database number, such as /0")
    return int(text)
