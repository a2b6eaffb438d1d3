"""The warnings API's documents (NINA, github bundesAPI/nina-api) as values, and a warning as residents
read it: the text verbatim (HTML reduced to plain text), the source line the terms ask for, and the link.

Pure: fetching is bot/warnings.py's, and what becomes of a warning is broadcasts/warning_desk.py's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from broadcasts.feeds import TEXT_LIMIT, plain_text, shorten

LINK = "https://warnung.bund.de/meldungen/{id}"
# The dashboard names the provider in capitals; an id's prefix names it too (mow., kat., dwd., …).
_PROVIDERS = {"mowas": "mow", "katwarn": "kat", "biwapp": "biw", "dwd": "dwd", "lhp": "lhp", "police": "pol"}
# The terms: content passed on unchanged, naming the source; DWD asks for its own source line.
SOURCE_LINES = {
    "mowas": ("Bundesamt für Bevölkerungsschutz (MoWaS)", "Federal Office of Civil Protection (MoWaS)"),
    "katwarn": ("KATWARN", "KATWARN"),
    "biwapp": ("BIWAPP", "BIWAPP"),
    "lhp": ("Länderübergreifendes Hochwasserportal", "Cross-state flood portal (LHP)"),
    "police": ("Polizei", "Police"),
}
DWD_LINE = ("Quelle: Deutscher Wetterdienst", "Source: Deutscher Wetterdienst")
ALL_CLEAR = "entwarnung"


class Unreadable(ValueError):
    """The document is not what the API publishes; nothing of it is taken up."""


@dataclass(frozen=True, slots=True)
class Listed:
    """One active warning on the district's dashboard."""

    id: str
    version: int
    provider: str  # mowas, katwarn, biwapp, dwd, lhp, police (or what an unknown one calls itself)
    severity: str  # Minor … Extreme, or Unknown
    msg_type: str  # Alert, Update, Cancel
    headline: str
    sent: str
    expires: datetime | None
    hash: str = ""

    @property
    def all_clear(self) -> bool:
        return self.msg_type == "Cancel" or plain_text(self.headline).casefold().startswith(ALL_CLEAR)

    @property
    def twin_mark(self) -> str:
        """The same warning under another id (DWD publishes some twice, a second provider republishes):
        the same headline and expiry."""
        expires = self.expires.isoformat() if self.expires else ""
        return f"{' '.join(plain_text(self.headline).casefold().split())}\n{expires}"


@dataclass(frozen=True, slots=True)
class Info:
    """One language of a warning's CAP detail."""

    language: str  # "de", "en", … (the primary tag of CAP's "de-DE")
    headline: str
    description: str  # HTML
    instruction: str
    severity: str
    web: str = ""


@dataclass(frozen=True, slots=True)
class Detail:
    identifier: str
    msg_type: str
    references: str
    infos: tuple[Info, ...]

    def info(self, language: str) -> Info | None:
        """The info in `language` if the warning has one (None otherwise: German stands)."""
        return next((info for info in self.infos if info.language == language), None)


def parse_dashboard(body: bytes) -> list[Listed]:
    """The district's active warnings. Raises Unreadable; an entry without an id or version is skipped."""
    data = _json(body)
    if not isinstance(data, list):
        raise Unreadable("the dashboard is not a list")
    return [listed for entry in data if (listed := _listed(entry)) is not None]


def _listed(entry: Any) -> Listed | None:
    if not isinstance(entry, dict):
        return None
    payload = _dict(entry.get("payload"))
    data = _dict(payload.get("data"))
    warning_id = _text(entry.get("id")) or _text(payload.get("id"))
    version = payload.get("version")
    if not warning_id or not isinstance(version, int) or isinstance(version, bool):
        return None
    return Listed(
        id=warning_id,
        version=version,
        provider=_provider(_text(data.get("provider")), warning_id),
        severity=_text(data.get("severity")) or "Unknown",
        msg_type=_text(data.get("msgType")) or "Alert",
        headline=_text(data.get("headline")) or _text(_dict(entry.get("i18nTitle")).get("de")),
        sent=_text(entry.get("sent")),
        expires=_moment(entry.get("expires") or data.get("expires")),
        hash=_text(payload.get("hash")),
    )


def parse_detail(body: bytes) -> Detail:
    """A warning's CAP detail. Raises Unreadable."""
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("info"), list):
        raise Unreadable("the detail has no info list")
    infos = tuple(
        Info(
            language=_text(info.get("language")).split("-")[0].lower() or "de",
            headline=_text(info.get("headline")),
            description=_text(info.get("description")),
            instruction=_text(info.get("instruction")),
            severity=_text(info.get("severity")),
            web=_text(info.get("web")),
        )
        for info in data["info"]
        if isinstance(info, dict)
    )
    return Detail(
        _text(data.get("identifier")), _text(data.get("msgType")), _text(data.get("references")), infos
    )


def warning_text(listed: Listed, info: Info | None, language: str = "de") -> str:
    """The headline, description and instruction as the source wrote them, the source line and the link;
    without a detail (the API answered 404) the dashboard's headline stands alone."""
    headline = plain_text(info.headline if info and info.headline else listed.headline)
    tail = f"\n\n{source_line(listed.provider, language)}\n{link(listed.id)}"
    parts = [plain_text(info.description), plain_text(info.instruction)] if info else []
    body = "\n\n".join(part for part in parts if part)
    # Telegram and WhatsApp hold 4096 characters; the link leads to the rest of a longer text.
    room = max(TEXT_LIMIT - len(headline) - len(tail) - 2, 0)
    return "\n\n".join(part for part in (headline, shorten(body, room)) if part) + tail


def source_line(provider: str, language: str = "de") -> str:
    english = language == "en"
    if provider == "dwd":
        return DWD_LINE[english]
    names = SOURCE_LINES.get(provider, (provider.upper(), provider.upper()))
    if english:
        return f"Source: {names[1]} via warnung.bund.de"
    return f"Quelle: {names[0]} über warnung.bund.de"


def link(warning_id: str) -> str:
    return LINK.format(id=quote(warning_id, safe=""))


def _provider(named: str, warning_id: str) -> str:
    lowered = named.strip().lower()
    if lowered in _PROVIDERS:
        return lowered
    prefix = warning_id.split(".", 1)[0].lower()
    return next((name for name, short in _PROVIDERS.items() if short == prefix), lowered or prefix)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable(type(exc).__name__) from None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
