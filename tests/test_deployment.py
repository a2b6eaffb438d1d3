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
    [script] = redis["command"]
    arguments = script.split("redis-server", 1)[1].split()
    assert arguments[arguments.index("--appendonly") + 1] == "yes"
    # Only the append-only file, which stadtfunk has rewritten after erasures: no snapshots beside it.
    assert arguments[arguments.index("--save") + 1] == "''"
    assert arguments[arguments.index("--aof-use-rdb-preamble") + 1] == "no"
    mounts = dict(mount.split(":", 1) for mount in redis["volumes"])
    assert mounts == {"redis-data": "/data"}, "redis keeps its files in /data"
    assert "redis-data" in spec["volumes"]
    assert redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]


def test_the_redis_password_never_is_on_a_command_line() -> None:
    redis = compose()["services"]["redis"]
    [script] = redis["command"]
    assert "--requirepass" not in script
    assert "${REDIS_PASSWORD" not in script, "interpolated by compose into the command line"
    assert '"$$REDIS_PASSWORD" > /tmp/redis.conf' in script, "read from the environment into a file"
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")


def test_images_are_pinned_by_digest_with_a_way_to_refresh_them() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    [base] = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base)
    assert "docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim" in dockerfile
    redis = compose()["services"]["redis"]["image"]
    assert re.fullmatch(r"redis:7-alpine@sha256:[0-9a-f]{64}", redis)
    assert "docker inspect --format '{{index .RepoDigests 0}}' redis:7-alpine" in (
        ROOT / "docker-compose.yml"
    ).read_text(encoding="utf-8")


def test_every_installed_package_is_checked_against_its_hash() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--generate-hashes" in makefile
    assert "pip install --quiet --require-hashes -r requirements.lock" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes -r requirements-runtime.lock" in dockerfile
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.MULTILINE)
        assert len(pins) == len(re.findall(r"^[A-Za-z0-9_.-]+==", text, re.MULTILINE)) > 10, lock
    runtime = set(
        re.findall(r"^([A-Za-z0-9_.-]+==\S+)", (ROOT / "requirements-runtime.lock").read_text(), re.M)
    )
    full = set(re.findall(r"^([A-Za-z0-9_.-]+==\S+)", (ROOT / "requirements.lock").read_text(), re.M))
    assert runtime <= full, "the image runs the versions the tests ran"


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


def test_compose_passes_every_whatsapp_setting_and_keeps_metrics_off_the_host() -> None:
    service = compose()["services"]["stadtfunk"]
    whatsapp = {name.upper() for name in Settings.model_fields if name.startswith("whatsapp_")}
    assert whatsapp <= set(service["environment"])
    assert service["environment"]["METRICS_PORT"] == "${METRICS_PORT:-9464}"
    assert all("9464" not in port for port in service["ports"]), "metrics are not published on the host"


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
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
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
    assert service["StateDirectoryMode"] == "0700", "systemd's default, 0755, would show DATA_DIR to all"
    assert service["UMask"] == "0077"
