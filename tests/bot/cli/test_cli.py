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
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "REDIS_", "CITY_", "WHATSAPP_", "STADTFUNK_", "METRICS_"))
    }
    # Tests run side by side: a free port for each process's /metrics instead of the fixed 9464.
    base["METRICS_PORT"] = "0"
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
    assert (
        "beispielstadt.yaml: OK (Beispielstadt, 8 topics, 6 staff, 0 feeds, no official warnings)"
        in result.stdout
    )


def test_check_config_explains_a_broken_city_file(tmp_path: Path) -> None:
    broken = tmp_path / "stadt.yaml"
    text = DEFAULT_CITY_FILE.read_text(encoding="utf-8").replace("  - id: kultur", "  - id: Kultur Amt", 1)
    broken.write_text(text, encoding="utf-8")
    result = stadtfunk("check-config", cwd=tmp_path, CITY_CONFIG=str(broken))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "stadt.yaml, line" in result.stderr
    assert "topics[3].id" in result.stderr


def test_check_config_explains_a_chart_colour_that_is_no_colour(tmp_path: Path) -> None:
    broken = tmp_path / "stadt.yaml"
    text = DEFAULT_CITY_FILE.read_text(encoding="utf-8").replace('"#2e7d32"', '"grün"', 1)
    broken.write_text(text, encoding="utf-8")
    result = stadtfunk("check-config", cwd=tmp_path, CITY_CONFIG=str(broken))
    assert result.returncode == 2
    expected = 'chart_colours[3]: must be a colour written as "#rrggbb", like "#1d4e89" (got "grün")'
    assert expected in result.stderr


def test_check_config_refuses_a_reply_share_out_of_range(tmp_path: Path) -> None:
    city = tmp_path / "stadt.yaml"
    text = DEFAULT_CITY_FILE.read_text(encoding="utf-8").replace("reply_share: 0.10", "reply_share: 0.9", 1)
    city.write_text(text, encoding="utf-8")
    result = stadtfunk("check-config", cwd=tmp_path, CITY_CONFIG=str(city))
    assert result.returncode == 2
    assert "reply_share" in result.stderr
    assert "Traceback" not in result.stderr


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


def test_a_misspelt_variable_stops_the_start_with_a_suggestion(tmp_path: Path) -> None:
    result = stadtfunk("run", cwd=tmp_path, TELEGRAM_BOT_TOKN="4242:not-to-be-printed-anywhere")
    assert result.returncode == 2
    assert "unknown variable TELEGRAM_BOT_TOKN; did you mean TELEGRAM_BOT_TOKEN?" in result.stderr
    assert "not-to-be-printed" not in result.stderr + result.stdout
    assert "sandbox" not in result.stdout, "a typo must not start the sandbox"
    assert "Traceback" not in result.stderr


def test_dot_env_is_checked_the_same_way(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# compose reads the Redis password from here too\nREDIS_PASSWORD=x\n"
        "WHATSAPP_VERIFY_TOKN=abc\nSTADTFUNK_COLOUR=blue\nHTTP_PORT=8080\n",
        encoding="utf-8",
    )
    result = stadtfunk("check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown variable WHATSAPP_VERIFY_TOKN in .env; did you mean WHATSAPP_VERIFY_TOKEN?" in (
        result.stderr
    )
    assert "unknown variable STADTFUNK_COLOUR in .env; stadtfunk reads no such variable" in result.stderr
    assert "REDIS_PASSWORD" not in result.stderr
    (tmp_path / ".env").write_text("REDIS_PASSWORD=x\nHTTP_PORT=8080\n", encoding="utf-8")
    assert stadtfunk("check-config", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TELEGRAM_WEBHOOK_SECRET", "s3cr3t", "32 to 256 characters of A-Z, a-z, 0-9, _ and -"),
        ("TELEGRAM_WEBHOOK_SECRET", "x" * 31 + "!", "32 to 256 characters"),
        ("WHATSAPP_VERIFY_TOKEN", "short-token", "at least 16 characters"),
        ("ID_HASH_SECRET", "fifteen-chars!!", "at least 16 characters"),
    ],
)
def test_short_or_malformed_secrets_are_refused_without_echoing_them(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = stadtfunk("check-config", cwd=tmp_path, **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert message in result.stderr
    assert value not in result.stderr
