"""Real Redis topologies on loopback ports of their own, for the suite and `make bench`.

- `ClusterTopology`: a Redis Cluster of 3 primaries and 3 replicas, made by `redis-cli --cluster create`;
- `SentinelTopology`: a primary, a replica and 3 sentinels watching them;
- `SingleServer`: one server of the same binary over TCP, for comparisons in `make bench`.

They run Debian's `redis-server` and `redis-cli` (7.0 or newer: the control channel uses sharded pub/sub
on a cluster), never the machine's own Redis on 6379. Every server is a child process of this one, so
that a test can SIGKILL exactly the primary it means; everything lives in one temporary directory,
removed by `stop`. Both require the password below, so that the URLs' password part is exercised too.

The calls block (servers start in about a second or two, a failover takes a few); async callers wrap
the waits in `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import RedisError

PASSWORD = "topology-secret-0123456789"
SERVICE = "stadtfunk"
MIN_VERSION = (7, 0)
START_TIMEOUT_S = 30.0
FAILOVER_TIMEOUT_S = 60.0
HOST = "127.0.0.1"
# A cluster node also listens on its port + 10000 (the cluster bus); both must be free, and below 65536.
PORTS = range(20_000, 30_000)
BUS_OFFSET = 10_000


class TopologyUnavailable(RuntimeError):
    """This machine cannot run the topology (no redis-server 7, no redis-cli); the message says why."""


def binaries() -> tuple[str, str]:
    """Debian's redis-server and redis-cli, checked for a version with sharded pub/sub."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise TopologyUnavailable("redis-server or redis-cli is missing (apt-get install redis-server)")
    version_of = [server, "--version"]
    answer = subprocess.run(version_of, capture_output=True, text=True, check=False).stdout  # noqa: S603
    version = answer.partition(" v=")[2].split(" ", 1)[0]
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        found = ()
    if found < MIN_VERSION:
        raise TopologyUnavailable(f"{server} is version {version or 'unknown'}; Redis 7.0 or newer is needed")
    return server, cli


def free_port(taken: set[int], *, bus: bool) -> int:
    """A loopback port nobody listens on (and its cluster bus port, for a cluster node)."""
    for _ in range(200):
        port = random.choice(PORTS)
        wanted = (port, port + BUS_OFFSET) if bus else (port,)
        if taken.intersection(wanted):
            continue
        if all(_bindable(p) for p in wanted):
            taken.update(wanted)
            return port
    raise TopologyUnavailable("no free loopback port found for a Redis server")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


class Server:
    """One redis-server (or sentinel) child process, which can be killed and started again."""

    def __init__(self, binary: str, port: int, workdir: Path, args: list[str]) -> None:
        self.port = port
        self.dir = workdir / str(port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._command = [binary, *args]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            self._command, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        """SIGKILL, as a crashed machine: nothing is flushed, nobody is told."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, password=PASSWORD, socket_timeout=5, **options)

    def wait_until_up(self) -> None:
        def answers() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise TopologyUnavailable(f"redis-server on port {self.port} exited; see {self.dir}")
            with self.client() as client:
                return bool(client.ping())

        wait_for(answers, START_TIMEOUT_S, f"redis-server on port {self.port} to answer")

    def log(self) -> str:
        log = self.dir / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Servers change state on their own; look again every 50 ms until `condition` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TopologyUnavailable(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


class Topology:
    """Servers in one temporary directory, stopped together."""

    def __init__(self) -> None:
        self.server_binary, self.cli_binary = binaries()
        self.dir = Path(tempfile.mkdtemp(prefix="sf-topology-", dir="/tmp"))
        self.servers: list[Server] = []
        self._ports: set[int] = set()

    def stop(self) -> None:
        for server in self.servers:
            server.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def server(self, port: int) -> Server:
        return next(server for server in self.servers if server.port == port)

    def _data_server(self, extra: list[str], *, bus: bool) -> Server:
        port = free_port(self._ports, bus=bus)
        args = [
            "--port", str(port), "--bind", HOST, "--dir", ".", "--logfile", "redis.log",
            "--save", "", "--appendonly", "no", "--requirepass", PASSWORD, "--masterauth", PASSWORD,
            # Replicas sync at once instead of after the 5 s Redis waits for more of them by default.
            "--repl-diskless-sync-delay", "0",
            *extra,
        ]  # fmt: skip
        server = Server(self.server_binary, port, self.dir, args)
        self.servers.append(server)
        return server


class SingleServer(Topology):
    """One redis-server on TCP loopback: what a cluster is compared with, on equal terms."""

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@{self.servers[0].address}/0"

    def start(self) -> SingleServer:
        try:
            server = self._data_server([], bus=False)
            server.start()
            server.wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self


class ClusterTopology(Topology):
    """3 primaries and 3 replicas. `node_timeout_ms` is how long a silent primary is given before its
    replica takes over: short for failover tests, longer where a busy machine must not cause one."""

    def __init__(self, node_timeout_ms: int = 5000) -> None:
        super().__init__()
        self.node_timeout_ms = node_timeout_ms

    @property
    def url(self) -> str:
        nodes = ",".join(server.address for server in self.servers[:3])
        return f"redis+cluster://:{PASSWORD}@{nodes}/"

    def start(self) -> ClusterTopology:
        try:
            for _ in range(6):
                self._data_server(
                    [
                        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", str(self.node_timeout_ms),
                        # A replica always stands in, however long it was cut off from its primary.
                        "--cluster-replica-validity-factor", "0",
                    ],
                    bus=True,
                ).start()  # fmt: skip
            for server in self.servers:
                server.wait_until_up()
            create = [self.cli_binary, "--cluster", "create", *(s.address for s in self.servers)]
            subprocess.run(  # noqa: S603 - our own fixed command line
                [*create, "--cluster-replicas", "1", "--cluster-yes"],
                env={**os.environ, "REDISCLI_AUTH": PASSWORD}, capture_output=True, check=True,
                timeout=START_TIMEOUT_S,
            )  # fmt: skip
            wait_for(self._healthy, START_TIMEOUT_S, "the cluster to be ok with every replica in sync")
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        replicas = 0
        for server in self.servers:
            with server.client(decode_responses=True) as client:
                if not _cluster_ok(client):
                    return False
                info = client.info("replication")
                if info["role"] == "slave":
                    if info.get("master_link_status") != "up":
                        return False
                    replicas += 1
        return replicas == 3

    def primary_for(self, key: str) -> int:
        """The port of the primary that holds `key`'s slot now."""
        for server in self.servers:
            if not server.running:
                continue
            with server.client(decode_responses=True) as client:
                slot = int(client.execute_command("CLUSTER KEYSLOT", key))
                for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                    if int(start) <= slot <= int(end):
                        return int(primary[1])
        raise TopologyUnavailable("no cluster node answers")

    def kill_primary_for(self, key: str) -> int:
        port = self.primary_for(key)
        self.server(port).kill()
        return port

    def wait_for_failover(self, key: str, killed: int) -> int:
        """Until a replica has taken over `key`'s slot from the killed primary; its port."""
        found: list[int] = []

        def promoted() -> bool:
            port = self.primary_for(key)
            if port == killed:
                return False
            with self.server(port).client(decode_responses=True) as client:
                if not _cluster_ok(client):
                    return False
            found.append(port)
            return True

        wait_for(promoted, FAILOVER_TIMEOUT_S, "a replica to take over from the killed primary")
        return found[-1]


def _cluster_ok(client: redis.Redis) -> bool:
    info: dict[str, Any] = client.cluster("INFO")
    return str(info.get("cluster_state")) == "ok"


class SentinelTopology(Topology):
    """A primary, a replica and 3 sentinels (quorum 2). `down_after_ms` is how long a silent primary is
    given before the sentinels fail over: short for failover tests, longer for everything else."""

    def __init__(self, down_after_ms: int = 5000) -> None:
        super().__init__()
        self.down_after_ms = down_after_ms
        self.sentinels: list[Server] = []

    @property
    def url(self) -> str:
        nodes = ",".join(sentinel.address for sentinel in self.sentinels)
        return f"redis+sentinel://:{PASSWORD}@{nodes}/{SERVICE}/0"

    def start(self) -> SentinelTopology:
        try:
            primary = self._data_server([], bus=False)
            primary.start()
            primary.wait_until_up()
            replica = self._data_server(["--replicaof", HOST, str(primary.port)], bus=False)
            replica.start()
            replica.wait_until_up()
            for _ in range(3):
                self.sentinels.append(self._sentinel(primary.port))
            for sentinel in self.sentinels:
                sentinel.start()
            for sentinel in self.sentinels:
                sentinel.wait_until_up()
            wait_for(self._watching, START_TIMEOUT_S, "the sentinels to know each other and the replica")
        except BaseException:
            self.stop()
            raise
        return self

    def _sentinel(self, primary: int) -> Server:
        port = free_port(self._ports, bus=False)
        config = self.dir / f"sentinel-{port}.conf"
        # Sentinel rewrites its file as it learns the topology, so each gets a writable one.
        config.write_text(
            f"port {port}\nbind {HOST}\ndir .\nlogfile redis.log\nrequirepass {PASSWORD}\n"
            f"sentinel monitor {SERVICE} {HOST} {primary} 2\n"
            f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        # Debian's redis-sentinel package names the same binary; without it, redis-server runs as one.
        if (binary := shutil.which("redis-sentinel")) is not None:
            sentinel = Server(binary, port, self.dir, [str(config)])
        else:
            sentinel = Server(self.server_binary, port, self.dir, [str(config), "--sentinel"])
        self.servers.append(sentinel)
        return sentinel

    def _watching(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client(decode_responses=True) as client:
                state = client.sentinel_master(SERVICE)
                if int(state["num-other-sentinels"]) != 2 or int(state["num-slaves"]) != 1:
                    return False
        with self.server(self.primary()).client(decode_responses=True) as client:
            replication = client.info("replication")
            synced = "online" in str(replication.get("slave0", ""))
            return int(replication["connected_slaves"]) == 1 and synced

    def primary(self) -> int:
        """The port of the primary, as the sentinels name it now."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            with contextlib.suppress(RedisError), sentinel.client(decode_responses=True) as client:
                _, port = client.sentinel_get_master_addr_by_name(SERVICE)
                return int(port)
        raise TopologyUnavailable("no sentinel answers")

    def kill_primary(self) -> int:
        port = self.primary()
        self.server(port).kill()
        return port

    def wait_for_failover(self, killed: int) -> int:
        """Until the sentinels have promoted the replica and it accepts writes; its port."""
        found: list[int] = []

        def promoted() -> bool:
            port = self.primary()
            if port == killed:
                return False
            with self.server(port).client(decode_responses=True) as client:
                if client.info("replication")["role"] != "master":
                    return False
            found.append(port)
            return True

        wait_for(promoted, FAILOVER_TIMEOUT_S, "the sentinels to promote the replica")
        return found[-1]
