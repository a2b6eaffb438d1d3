"""Environment configuration. The only place that reads the process environment."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.storage.redis_url import parse_redis_url
from bot.syslog import SyslogTarget

DEFAULT_CITY_FILE = Path(__file__).parent / "cities" / "beispielstadt.yaml"
ENV_FILE = Path(".env")
# Variables with these prefixes are stadtfunk's: one it does not know is a typo, and a typo in
# TELEGRAM_BOT_TOKEN would otherwise start the sandbox instead of the bot.
OWN_PREFIXES = ("TELEGRAM_", "WHATSAPP_", "REDIS_", "STADTFUNK_")
# Read by docker-compose.yml (the Redis server's password), not by stadtfunk itself.
DEPLOYMENT_VARIABLES = frozenset({"REDIS_PASSWORD"})
# Secrets shorter than this are placeholders or guessable. Meta's app secrets are 32 hex digits; the
# verify token and the hash key are the operator's own choice.
SECRET_MINIMUM = 16
# Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -; we ask for at least 32.
WEBHOOK_SECRET_PATTERN = r"[A-Za-z0-9_-]{32,256}"  # noqa: S105 (a pattern)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class ConfigurationError(RuntimeError):
    """The environment does not describe a service that can run; the message names what to set."""


class Settings(BaseSettings):
    """Every variable is documented in `.env.example`; keep the two in step."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        # A refused value is never repeated: REDIS_URL and the tokens hold secrets.
        hide_input_in_errors=True,
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    # Telegram allows about 30 messages/s; paid broadcasts (allow_paid_broadcast) up to 1000/s.
    telegram_rate_limit: float = Field(default=30, gt=0, le=1000)
    rate_limit_margin: float = Field(default=0.01, ge=0, lt=0.5)

    # WhatsApp Business Cloud API: all four secrets together turn the WhatsApp bridge on.
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = Field(default=None, pattern=r"^[0-9]{1,32}$")
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com"
    # https://developers.facebook.com/docs/graph-api/changelog: v26.0, released 29 July 2026.
    whatsapp_api_version: str = Field(default="v26.0", pattern=r"^v[0-9]{1,3}\.[0-9]{1,2}$")
    # Cloud API numbers send 80 messages/s by default; Meta raises it to 1000/s on request.
    whatsapp_rate_limit: float = Field(default=80, gt=0, le=1000)

    redis_url: SecretStr | None = None
    redis_key_prefix: str = Field(default="stadtfunk", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    data_dir: Path = Path("./data")
    city_config: Path = DEFAULT_CITY_FILE
    id_hash_secret: SecretStr | None = None
    # The key of the audit log's hash chain; unset: generated in DATA_DIR (set it where several machines
    # share one Redis, or `stadtfunk audit --verify` elsewhere must check the chain).
    audit_hmac_secret: SecretStr | None = None
    # A copy of every audit entry for a syslog server out of Redis's reach: udp://host:514 or
    # tcp://host:port (RFC 5424; over TCP framed by octet counting, RFC 6587).
    audit_syslog: str | None = None
    worker_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = Field(default="INFO", pattern=r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_format: LogFormat = LogFormat.TEXT
    # /metrics is never on HTTP_PORT (which a reverse proxy may publish): only here, on loopback by default.
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # After an erasure the append-only file is rewritten at most this often, so that what was erased
    # leaves the disk too; batched, because each rewrite copies the whole data set.
    erasure_rewrite_minutes: float = Field(default=15, gt=0, le=24 * 60)
    # Official warnings (NINA); polled only when the city file has a `warnings:` section.
    warnings_api_url: str = Field(default="https://warnung.bund.de/api31", pattern=r"^https?://\S+$")

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _guessable_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Whoever knows it can post updates as Telegram: it must not be guessable.
        if value is not None and not re.fullmatch(WEBHOOK_SECRET_PATTERN, value.get_secret_value()):
            raise ValueError(
                "must be 32 to 256 characters of A-Z, a-z, 0-9, _ and - "
                "(e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("whatsapp_app_secret", "whatsapp_verify_token", "id_hash_secret", "audit_hmac_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value()) < SECRET_MINIMUM:
            raise ValueError(f"must be at least {SECRET_MINIMUM} characters")
        return value

    @field_validator("audit_syslog")
    @classmethod
    def _syslog_url(cls, value: str | None) -> str | None:
        if value is not None:
            SyslogTarget.parse(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_in_one_of_its_forms(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_redis_url(value.get_secret_value())  # its error names the part, never the password
        return value

    @model_validator(mode="after")
    def _webhook_needs_url_and_secret(self) -> Self:
        if self.telegram_mode is TelegramMode.WEBHOOK and self.telegram_bot_token is not None:
            missing = [
                name
                for name, value in (
                    ("TELEGRAM_WEBHOOK_URL", self.telegram_webhook_url),
                    ("TELEGRAM_WEBHOOK_SECRET", self.telegram_webhook_secret),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"TELEGRAM_MODE=webhook needs {' and '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _whatsapp_all_or_nothing(self) -> Self:
        given = {name: bool(value) for name, value in self._whatsapp_credentials().items()}
        if any(given.values()) and not all(given.values()):
            missing = " and ".join(name for name, ok in given.items() if not ok)
            raise ValueError(f"WhatsApp needs {missing} as well")
        return self

    def _whatsapp_credentials(self) -> dict[str, object]:
        return {
            "WHATSAPP_ACCESS_TOKEN": _revealed(self.whatsapp_access_token),
            "WHATSAPP_PHONE_NUMBER_ID": self.whatsapp_phone_number_id,
            "WHATSAPP_APP_SECRET": _revealed(self.whatsapp_app_secret),
            "WHATSAPP_VERIFY_TOKEN": _revealed(self.whatsapp_verify_token),
        }

    def secret_values(self) -> list[str]:
        """Every secret this configuration holds, for the log filter: each secret setting, and the
        password inside REDIS_URL on its own (a library may print the URL's parts)."""
        values = [
            field.get_secret_value()
            for name in type(self).model_fields
            if isinstance(field := getattr(self, name), SecretStr) and field.get_secret_value()
        ]
        if self.redis_url is not None:
            password = urlsplit(self.redis_url.get_secret_value()).password
            if password:
                values += [password, unquote(password)]
        return values

    @property
    def whatsapp_enabled(self) -> bool:
        return all(self._whatsapp_credentials().values())

    @property
    def messengers(self) -> list[str]:
        """The messengers this service talks to; the service starts with at least one."""
        return [
            name
            for name, on in (("telegram", self.telegram_enabled), ("whatsapp", self.whatsapp_enabled))
            if on
        ]

    @property
    def telegram_paid_broadcast(self) -> bool:
        """Above Telegram's free 30/s, sends must opt into paid broadcasting."""
        return self.telegram_rate_limit > 30

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None and bool(self.telegram_bot_token.get_secret_value())

    @property
    def sandbox_mode(self) -> bool:
        """No messenger credentials: run with the local web test chat instead of a messenger. Any part
        of WhatsApp's credentials counts: half a configuration is an error, not a sandbox."""
        return not self.telegram_enabled and not any(self._whatsapp_credentials().values())


def _revealed(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path = ENV_FILE) -> Settings:
    """The settings from the environment and `.env`, after refusing names stadtfunk does not know."""
    problems = unknown_variables(os.environ if environ is None else environ, "")
    if env_file.is_file():
        names = {name: value or "" for name, value in dotenv_values(env_file).items()}
        problems += unknown_variables(names, f" in {env_file}")
    if problems:
        raise ConfigurationError("\n".join(problems))
    return Settings(_env_file=env_file if env_file.is_file() else None)


def unknown_variables(names: Mapping[str, str], where: str) -> list[str]:
    """One line per variable with one of stadtfunk's prefixes that no setting reads, with the closest
    known name when there is one."""
    known = sorted(name.upper() for name in Settings.model_fields)
    problems = []
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(OWN_PREFIXES) or upper in known or upper in DEPLOYMENT_VARIABLES:
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "stadtfunk reads no such variable (see .env.example)"
        problems.append(f"unknown variable {name}{where}; {hint}")
    return problems
