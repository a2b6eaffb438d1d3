"""The `stadtfunk` command as an operator types it: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import DEFAULT_CITY_FILE


def stadtfunk(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "REDIS_", "CITY_", "WHATSAPP_"))
    }
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_accepts_the_shipped_city(tmp_path: Path) -> None:
    result = stadtfunk("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "beispielstadt.yaml: OK (Beispielstadt, 8 topics, 6 staff, 0 feeds)" in result.stdout


def test_check_config_explains_a_broken_city_file(tmp_path: Path) -> None:
    broken = tmp_path / "stadt.yaml"
    text = DEFAULT_CITY_FILE.read_text(encoding="utf-8").replace("  - id: kultur", "  - id: Kultur Amt", 1)
    broken.write_text(text, encoding="utf-8")
    result = stadtfunk("check-config", cwd=tmp_path, CITY_CONFIG=str(broken))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "stadt.yaml, line" in result.stderr
    assert "topics[3].id" in result.stderr


def test_run_without_messenger_credentials_off_loopback_names_the_variables(tmp_path: Path) -> None:
    result = stadtfunk("run", cwd=tmp_path, REDIS_URL="redis://127.0.0.1:9", HTTP_HOST="0.0.0.0")  # noqa: S104
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "loopback only" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_without_messenger_credentials_tries_the_sandbox(tmp_path: Path) -> None:
    result = stadtfunk("run", cwd=tmp_path, REDIS_URL="redis://127.0.0.1:9")
    assert result.returncode == 2
    assert "Redis is not reachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEGRAM_MODE": "carrier-pigeon"}, "TELEGRAM_MODE"),
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT"),
        (
            {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_MODE": "webhook"},
            "TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET",
        ),
    ],
)
def test_invalid_environment_is_named(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = stadtfunk("check-config", cwd=tmp_path, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "1:x" not in result.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = stadtfunk("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "check-config" in result.stdout
    assert "run" in result.stdout
