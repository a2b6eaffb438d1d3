"""docker-compose.yml's `sentinel` profile, checked as text (no Docker engine runs in the tests): three
stadtfunk processes behind a load balancer, on Redis Sentinel, each as the README and docs describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings
from bot.storage.redis_url import Mode, parse_redis_url

ROOT = Path(__file__).parents[1]
PROCESSES = ("stadtfunk-1", "stadtfunk-2", "stadtfunk-3")
SENTINELS = ("ha-sentinel-1", "ha-sentinel-2", "ha-sentinel-3")


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return dict(loaded["services"])


def test_the_profile_leaves_the_default_deployment_alone() -> None:
    found = services()
    ha = {name for name, spec in found.items() if spec.get("profiles") == ["sentinel"]}
    assert ha == {"ha-redis-1", "ha-redis-2", *SENTINELS, *PROCESSES, "lb"}
    assert "profiles" not in found["stadtfunk"]
    assert "profiles" not in found["redis"]


def test_three_processes_share_the_sentinel_service_each_under_its_own_name() -> None:
    found = services()
    known = {name.upper() for name in Settings.model_fields}
    environments = [found[name]["environment"] for name in PROCESSES]
    for environment in environments:
        assert set(environment) <= known, f"not settings: {set(environment) - known}"
        url = environment["REDIS_URL"].replace("${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}", "pw")
        target = parse_redis_url(url)
        assert target.mode is Mode.SENTINEL
        assert target.nodes == tuple((name, 26379) for name in SENTINELS)
        assert (target.service, target.db, target.password) == ("stadtfunk", 0, "pw")
        # Several processes: webhooks (only one may poll Telegram), one hash secret for all of them.
        assert environment["TELEGRAM_MODE"] == "webhook"
        assert environment["ID_HASH_SECRET"].startswith("${ID_HASH_SECRET:?")
        assert environment["REDIS_KEY_PREFIX"] == "${REDIS_KEY_PREFIX:-stadtfunk}"
    assert [e["WORKER_NAME"] for e in environments] == list(PROCESSES)
    for name in PROCESSES:
        assert "http://127.0.0.1:8080/readyz" in " ".join(found[name]["healthcheck"]["test"])
        assert set(found[name]["depends_on"]) == set(SENTINELS)


def test_the_sentinels_watch_the_primary_with_a_quorum_of_two_and_the_replica_follows_it() -> None:
    found = services()
    for name in SENTINELS:
        script = found[name]["command"][-1]
        assert "sentinel monitor stadtfunk ha-redis-1 6379 2" in script
        assert "requirepass $$REDIS_PASSWORD" in script, "one password for servers and sentinels"
        assert "exec redis-sentinel /data/sentinel.conf" in script
    assert "'replicaof ha-redis-1 6379'" in found["ha-redis-2"]["command"][-1]
    for name in ("ha-redis-1", "ha-redis-2"):
        assert "'appendonly yes'" in found[name]["command"][-1]
        assert "masterauth $$REDIS_PASSWORD" in found[name]["command"][-1], "a primary may become a replica"


def test_the_load_balancer_sends_webhooks_only_to_ready_processes() -> None:
    lb = services()["lb"]
    assert set(lb["depends_on"]) == set(PROCESSES)
    assert lb["ports"] == ["127.0.0.1:8080:8080"]
    config = (ROOT / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")
    assert "option httpchk GET /readyz" in config
    assert "http-check expect status 200" in config
    for name in PROCESSES:
        assert f"server {name} {name}:8080 check" in config
    assert "http-request deny if { path_beg /metrics }" in config
