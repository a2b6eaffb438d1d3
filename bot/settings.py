"""Environment configuration. The only place that reads the process environment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.storage.redis_url import parse_redis_url

DEFAULT_CITY_FILE = Path(__file__).parent / "cities" / "beispielstadt.yaml"


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
    id_hash_secret: SecretStr | None = Field(default=None, min_length=16)
    worker_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = Field(default="INFO", pattern=r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_format: LogFormat = LogFormat.TEXT
    # Unset: /metrics is served on HTTP_PORT; set: on a port of its own, on loopback only.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

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
