"""The city file's `warnings:` section: official warnings (NINA: MoWaS, KATWARN, BIWAPP, DWD, LHP, police)
relayed to a topic's subscribers. Without the section nothing polls."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

Severity = Literal["Minor", "Moderate", "Severe", "Extreme"]
Provider = Literal["mowas", "katwarn", "biwapp", "dwd", "lhp", "police"]
PROVIDERS: tuple[Provider, ...] = ("mowas", "katwarn", "biwapp", "dwd", "lhp", "police")
# CAP's scale, lowest first ("Unknown" ranks below everything).
SEVERITIES: tuple[Severity, ...] = ("Minor", "Moderate", "Severe", "Extreme")
# The NINA web page refreshes every 30 s; asking more often is impolite to a source with no published limit.
MIN_POLL_SECONDS = 30
_ARS = re.compile(r"^[0-9]{12}$")


def rank(severity: str) -> int:
    """Minor 0 … Extreme 3; anything else (CAP's "Unknown") -1."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _ars(value: str) -> str:
    if not _ARS.match(value):
        raise PydanticCustomError(
            "ars", 'must be the 12-digit regional key (ARS) in quotes, like "051240000000"'
        )
    if not value.endswith("0000000"):
        raise PydanticCustomError(
            "ars",
            "the last 7 digits must be 0000000: warnings are published per district, so write "
            '"{district}0000000"',
            {"district": value[:5]},
        )
    return value


def _poll_seconds(value: float) -> float:
    if value < MIN_POLL_SECONDS:
        raise PydanticCustomError(
            "poll_seconds",
            "must be 30 or more: asking the warnings API more often than its own web page does is "
            "impolite to the source",
        )
    return value


def _providers(value: Any) -> Any:
    return (
        [item.strip().lower() if isinstance(item, str) else item for item in value]
        if isinstance(value, list)
        else value
    )


def _severity(value: Any) -> Any:
    return value.strip().capitalize() if isinstance(value, str) else value


class Warnings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    ars: Annotated[str, AfterValidator(_ars)] = Field(description="the city's or district's regional key")
    topic: str = Field(description="the topic whose subscribers get the warnings")
    providers: Annotated[list[Provider], BeforeValidator(_providers)] = Field(
        default_factory=lambda: list(PROVIDERS), min_length=1
    )
    min_severity: Annotated[Severity, BeforeValidator(_severity)] = "Moderate"
    send: Literal["auto", "approval"] = "auto"
    poll_seconds: Annotated[float, AfterValidator(_poll_seconds)] = Field(60, le=3600)

    def relays(self, severity: str) -> bool:
        return rank(severity) >= rank(self.min_severity)
