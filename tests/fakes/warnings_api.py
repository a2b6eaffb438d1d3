"""A stand-in for the warnings API (NINA, warnung.bund.de/api31) on loopback, serving documents in the
shape of its openapi (github bundesAPI/nina-api): `/dashboard/{ARS}.json`, a list of the district's
active warnings, and `/warnings/{id}.json`, each warning's CAP detail.

It is the document stand-in (tests/fakes/http_source.py) with the API's documents on it, so ETags, 304
answers, failures and recorded requests come with it. A test issues, updates, clears and withdraws
warnings; every change republishes the dashboard, as the API's does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Self

from tests.fakes.http_source import FakeSource

ARS = "051240000000"
PROVIDERS = {"mow": "MOWAS", "kat": "KATWARN", "biw": "BIWAPP", "dwd": "DWD", "lhp": "LHP", "pol": "POLICE"}
SENDERS = {"MOWAS": "opendata@bbk.bund.de", "KATWARN": "CAP@katwarn.de", "DWD": "opendata@dwd.de"}


@dataclass(frozen=True, slots=True)
class Language:
    """One `info` of the CAP detail."""

    language: str = "de-DE"
    headline: str = "Gefahrstoffaustritt in Beispielstadt"
    description: str = "<p>Im Industriegebiet Nord ist ein Gefahrstoff ausgetreten.</p>"
    instruction: str = "Halten Sie Fenster und Türen geschlossen."


@dataclass(frozen=True, slots=True)
class Issued:
    id: str = "mow.DE-NW-WUP-W001-20261202-000"
    version: int = 1
    severity: str = "Severe"
    msg_type: str = "Alert"
    sent: datetime = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    expires: datetime | None = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    infos: tuple[Language, ...] = (Language(),)
    detail: bool = True  # False: the detail answers 404, as some dashboard ids do
    references: str = ""
    provider: str = field(default="")

    @property
    def provider_name(self) -> str:
        return self.provider or PROVIDERS[self.id.split(".", 1)[0]]

    @property
    def headline(self) -> str:
        return self.infos[0].headline


def dashboard_entry(warning: Issued) -> dict[str, Any]:
    """One entry of /dashboard/{ARS}.json (ARSOverviewResult), with the `expires` the API adds."""
    digest = hashlib.sha256(json.dumps(detail(warning), sort_keys=True).encode()).hexdigest()
    entry: dict[str, Any] = {
        "id": warning.id,
        "payload": {
            "version": warning.version,
            "type": "ALERT",
            "id": warning.id,
            "hash": digest,
            "data": {
                "headline": warning.headline,
                "provider": warning.provider_name,
                "severity": warning.severity,
                "msgType": warning.msg_type,
                "transKeys": {"event": "BBK-EVC-001"},
                "area": {"type": "ZGEM", "data": "1+05124000000"},
            },
        },
        "i18nTitle": {"de": warning.headline},
        "sent": warning.sent.isoformat(),
    }
    if warning.expires is not None:
        entry["expires"] = warning.expires.isoformat()
    return entry


def detail(warning: Issued) -> dict[str, Any]:
    """/warnings/{id}.json: the CAP message (Warning)."""
    return {
        "identifier": warning.id,
        "sender": SENDERS.get(warning.provider_name, "CAP@example.de"),
        "sent": warning.sent.isoformat(),
        "status": "Actual",
        "msgType": warning.msg_type,
        "scope": "Public",
        "code": ["DVN:1"],
        "references": warning.references,
        "info": [
            {
                "language": info.language,
                "category": ["Safety"],
                "event": "Gefahrstoffausbreitung",
                "urgency": "Immediate",
                "severity": warning.severity,
                "certainty": "Observed",
                "eventCode": [{"valueName": "profile:DE-BBK-EVENTCODE", "value": "BBK-EVC-001"}],
                "headline": info.headline,
                "description": info.description,
                "instruction": info.instruction,
                "web": "https://warnung.bund.de",
                "parameter": [{"valueName": "sender_langname", "value": "Leitstelle Beispielstadt"}],
                "area": [{"areaDesc": "Beispielstadt", "geocode": [{"valueName": "AreaId", "value": "0"}]}],
            }
            for info in warning.infos
        ],
    }


class FakeWarningsApi:
    """The API's documents for one district, on the document stand-in."""

    def __init__(self, ars: str = ARS) -> None:
        self.ars = ars
        self.source = FakeSource()
        self.warnings: dict[str, Issued] = {}
        self._down = False

    async def __aenter__(self) -> Self:
        await self.source.__aenter__()
        self._publish()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.source.__aexit__(*exc_info)

    @property
    def url(self) -> str:
        """What WARNINGS_API_URL is set to."""
        return self.source.base_url

    @property
    def dashboard_path(self) -> str:
        return f"dashboard/{self.ars}.json"

    def issue(self, warning: Issued) -> Issued:
        self.warnings[warning.id] = warning
        self._publish()
        return warning

    def update(self, warning_id: str, **changes: Any) -> Issued:
        """A new version of the same id (msgType Update unless given)."""
        current = self.warnings[warning_id]
        changes.setdefault("msg_type", "Update")
        updated = replace(current, version=current.version + 1, references=current.id, **changes)
        return self.issue(updated)

    def all_clear(self, warning_id: str, headline: str = "Entwarnung: Gefahrstoffaustritt beendet") -> Issued:
        info = Language(headline=headline, description="<p>Die Gefahr ist vorüber.</p>", instruction="")
        return self.update(warning_id, msg_type="Cancel", infos=(info,))

    def withdraw(self, warning_id: str) -> None:
        """Gone from the dashboard (expired), without an all-clear."""
        self.warnings.pop(warning_id)
        self._publish()

    def down(self, status: int = 503) -> None:
        self._down = True
        self.source.fail(self.dashboard_path, status)

    def up(self) -> None:
        self._down = False
        self._publish()

    def dashboard_requests(self) -> int:
        return len(self.source.requested(self.dashboard_path))

    def detail_requests(self, warning_id: str) -> int:
        return len(self.source.requested(f"warnings/{warning_id}.json"))

    def _publish(self) -> None:
        if self._down:
            return
        entries = [dashboard_entry(w) for w in self.warnings.values()]
        self.source.put(self.dashboard_path, json.dumps(entries), content_type="application/json")
        for warning in self.warnings.values():
            path = f"warnings/{warning.id}.json"
            if warning.detail:
                self.source.put(path, json.dumps(detail(warning)), content_type="application/json")
            else:
                self.source.fail(path, 404)
