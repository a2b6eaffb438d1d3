"""The container and service files, checked as text: no Docker engine or systemd runs in the tests."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings

ROOT = Path(__file__).parents[1]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    spec = compose()
    redis = spec["services"]["redis"]
    command = [str(part) for part in redis["command"]]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "--requirepass" in command
    mounts = dict(mount.split(":", 1) for mount in redis["volumes"])
    assert mounts == {"redis-data": "/data"}, "redis keeps its files in /data"
    assert "redis-data" in spec["volumes"]
    assert redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]


def test_the_service_runs_as_a_user_with_a_healthcheck() -> None:
    service = compose()["services"]["stadtfunk"]
    user = str(service["user"]).split(":")[0]
    assert user not in ("0", "root")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (image_user,) = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert image_user.split(":")[0] == user
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.MULTILINE)
    assert "playwright install" not in dockerfile
    probe = " ".join(service["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/readyz" in probe
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert service["stop_signal"] == "SIGTERM"
    assert "stadtfunk-data:/data" in service["volumes"]


def test_the_service_gets_every_setting_by_its_documented_name() -> None:
    environment: dict[str, str] = compose()["services"]["stadtfunk"]["environment"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(environment) <= known, f"not settings: {set(environment) - known}"
    must = {
        "TELEGRAM_BOT_TOKEN",
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "REDIS_URL",
        "ID_HASH_SECRET",
        "HTTP_HOST",
        "HTTP_PORT",
        "METRICS_PORT",
        "LOG_FORMAT",
        "DATA_DIR",
    }
    assert must <= set(environment)
    assert environment["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD")
    assert environment["REDIS_URL"].endswith("@redis:6379/0")
    # Secrets are passed through from .env, never written here.
    for secret in (
        "TELEGRAM_BOT_TOKEN",
        "WHATSAPP_ACCESS_TOKEN",
        "ID_HASH_SECRET",
        "TELEGRAM_WEBHOOK_SECRET",
    ):
        assert environment[secret] == f"${{{secret}:-}}"
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in environment:
        if not name.startswith("WHATSAPP_"):  # documented with the WhatsApp adapter
            assert re.search(rf"^{name}=", example, re.MULTILINE), f"{name} missing from .env.example"


def test_the_systemd_unit_runs_unprivileged_and_stops_gracefully() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "stadtfunk.service", encoding="utf-8")
    service = unit["Service"]
    assert service["User"] not in ("root", "0")
    assert service["ExecStart"].endswith("stadtfunk run")
    assert service["KillSignal"] == "SIGTERM"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["EnvironmentFile"].startswith("/etc/stadtfunk/")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
