"""The city file: one YAML file in which a press office describes its city, edited without a developer.

For those non-developers, `load_city` turns every mistake into a `CityFileError` naming line, key and need.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from city.colours import DEFAULT_CHART_COLOURS, HexColour
from city.config_errors import (
    REFERENCE_ERROR_TYPE,
    CityFileProblem,
    closest,
    duplicate_key_problems,
    problems_from_validation,
    reference_errors,
    render,
    yaml_problem,
)
from city.feeds import Feed
from city.flood import Flood
from city.loader import CityLoader
from city.warnings import Warnings

# Topic ids travel inside Telegram callback data, which is limited to 64 bytes.
TOPIC_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,23}$"
STAFF_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
WHATSAPP_PATTERN = r"^[1-9][0-9]{6,14}$"
MIRROR_CHANNEL_PATTERN = r"^(@[A-Za-z][A-Za-z0-9_]{4,31}|-100[0-9]{5,})$"
URL_PATTERN = r"^https?://\S+$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})(?:\s*Uhr)?")

Role = Literal["editor", "approver", "alert", "admin"]


class CityFileError(Exception):
    """A city file that cannot be used; `str()` is the whole explanation, meant for whoever edits the file."""

    def __init__(self, path: Path, problems: Sequence[CityFileProblem]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__(render(path.name, self.problems))


def _matching(pattern: str, expected: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise PydanticCustomError("pattern", expected)
        return value

    return AfterValidator(check)


def _clock_time(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return datetime.time(value // 60, value % 60)  # what yaml.safe_load makes of an unquoted 22:30
    if isinstance(value, str):
        match = _CLOCK.fullmatch(value.strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise PydanticCustomError("clock_time", 'must be a time of day like "07:00"')
        return datetime.time(int(match[1]), int(match[2]))
    return value


def _phone_digits(value: Any) -> Any:
    return re.sub(r"[\s/-]", "", value).removeprefix("+") if isinstance(value, str) else value


def _role_scope(value: Any) -> Literal["all"] | list[str]:
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    if isinstance(value, list) and value and all(isinstance(item, str) and item.strip() for item in value):
        return [item.strip() for item in value]
    raise PydanticCustomError("role_scope", 'must be "all" or a list of topic ids, like [verkehr, kultur]')


def _known_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        suggestion = closest(name, sorted(zoneinfo.available_timezones()))
        raise PydanticCustomError(
            "timezone", 'must be a time zone name like "Europe/Berlin"', {"suggestion": suggestion}
        ) from None
    return name


Text = Annotated[str, Field(min_length=1)]
ClockTime = Annotated[datetime.time, BeforeValidator(_clock_time)]
Url = Annotated[str, _matching(URL_PATTERN, 'must be a web address starting with "https://"')]
TopicId = Annotated[
    str, _matching(TOPIC_ID_PATTERN, 'must be lowercase letters, digits, "-" or "_", at most 24 characters')
]
StaffId = Annotated[
    str, _matching(STAFF_ID_PATTERN, 'must be lowercase letters, digits, "-" or "_", at most 32 characters')
]
WhatsAppNumber = Annotated[
    str,
    BeforeValidator(_phone_digits),
    _matching(WHATSAPP_PATTERN, 'must be an international number with country code, like "+4915100000001"'),
]
MirrorChannel = Annotated[
    str, _matching(MIRROR_CHANNEL_PATTERN, 'must be a public channel like "@beispielstadt" or an id "-100…"')
]
EmailAddress = Annotated[str, _matching(EMAIL_PATTERN, 'must be an e-mail address like "presse@example.de"')]
RoleScope = Annotated[Literal["all"] | list[str], PlainValidator(_role_scope)]


class _Section(BaseModel):
    # Frozen because the city is shared by every conversation; extra="forbid" so a misspelt key is an error.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class Localized(_Section):
    """Resident-facing text: German always, English for residents who chose English."""

    de: Text
    en: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_text_is_german(cls, data: Any) -> Any:
        return {"de": data} if isinstance(data, str) else data

    @field_validator("en")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        return value or None

    def get(self, language: str) -> str:
        return self.en if language == "en" and self.en else self.de


class Topic(_Section):
    id: TopicId
    name: Localized
    description: Localized
    department: Text
    approval_required: bool = Field(True, description="whether a second person approves before sending")
    mirror_channel: MirrorChannel | None = Field(
        None, description="public Telegram channel that receives a copy; the bot must be its admin"
    )


class StaffMember(_Section):
    id: StaffId
    name: Text
    telegram_id: int | None = Field(None, gt=0)
    whatsapp: WhatsAppNumber | None = None
    roles: dict[Role, RoleScope] = Field(min_length=1, description='role -> "all" or a list of topic ids')
    language: Literal["de", "en"] = Field(
        "de", description="the language of what stadtfunk tells them unprompted (approval requests, …)"
    )

    @field_validator("roles")
    @classmethod
    def _admin_is_city_wide(cls, roles: dict[Role, RoleScope]) -> dict[Role, RoleScope]:
        # Admins manage staff and settings, which belong to no topic, so a topic-limited admin means nothing.
        if roles.get("admin", "all") != "all":
            raise PydanticCustomError(
                "admin_scope", 'the admin role always covers every topic; write "admin: all"'
            )
        return roles

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.telegram_id is None and self.whatsapp is None:
            raise PydanticCustomError(
                "unreachable",
                'needs a "telegram_id" or a "whatsapp" number, otherwise the bot cannot reach them',
            )
        return self

    def topics_for(self, role: Role) -> Literal["all"] | frozenset[str]:
        """The topics this person holds `role` for; being admin implies every role for every topic."""
        scope = "all" if "admin" in self.roles else self.roles.get(role, [])
        return frozenset(scope) if isinstance(scope, list) else "all"


class FaqEntry(_Section):
    question: Localized
    answer: Localized
    keywords: list[Text] = Field(min_length=1)


class Privacy(_Section):
    version: Text = Field(
        description="stored with each consent; a new one asks residents to agree again before adding topics"
    )
    notice: Localized


class Retention(_Section):
    """How long stadtfunk keeps what it no longer needs, in days; erasure then is the resident's /loeschen."""

    unsubscribed_days: int = Field(
        30, ge=0, le=3650, description="a resident with no topics left is erased after this many days"
    )
    blocked_days: int = Field(
        90, ge=0, le=3650, description="a resident who blocked the bot or is undeliverable is erased after"
    )
    delivery_records_days: int = Field(
        30, ge=1, le=3650, description="a broadcast's delivery records are deleted this long after it began"
    )
    audit_days: int = Field(365, ge=1, le=36500, description="staff audit log entries are kept this long")


class Contact(_Section):
    name: Localized
    email: EmailAddress | None = None
    phone: str | None = None
    website: Url | None = None


class AlternativeChannel(_Section):
    name: Localized
    url: Url


class QuietHours(_Section):
    start: ClockTime = datetime.time(22, 0)
    end: ClockTime = datetime.time(7, 0)


TEMPLATE_NAME_PATTERN = r"^[a-z0-9_]{1,512}$"
TemplateName = Annotated[
    str, _matching(TEMPLATE_NAME_PATTERN, "must be the template's name in Meta's manager: a-z, 0-9 and _")
]

TemplateParameter = Literal["text", "city"]


def _text_only() -> list[TemplateParameter]:
    return ["text"]


class WhatsAppTemplate(_Section):
    """An approved message template, sent to WhatsApp residents outside the 24-hour service window."""

    name: TemplateName
    # Resident language -> the template's language code in Meta's manager; others fall back to German.
    languages: dict[str, Text] = Field(default_factory=lambda: {"de": "de"})
    # The body's {{1}}, {{2}}, ... in order: "text" is the message, "city" the city's name.
    parameters: list[TemplateParameter] = Field(default_factory=_text_only, max_length=4)
    category: Literal["UTILITY"] = "UTILITY"

    def language(self, language: str) -> str:
        return self.languages.get(language) or self.languages.get("de") or "de"

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: dict[str, str]) -> dict[str, str]:
        if unknown := sorted(set(languages) - {"de", "en"}):
            raise PydanticCustomError("template_language", 'languages are "de" and "en", not {unknown}',
                                      {"unknown": ", ".join(unknown)})  # fmt: skip
        return languages


class WhatsAppTemplates(_Section):
    """One template per message kind; a kind without one reaches residents only inside their window."""

    news: WhatsAppTemplate | None = None
    alert: WhatsAppTemplate | None = None
    digest: WhatsAppTemplate | None = None
    staff: WhatsAppTemplate | None = None

    def for_kind(self, kind: str) -> WhatsAppTemplate | None:
        return {"news": self.news, "alert": self.alert, "digest": self.digest, "staff": self.staff}.get(kind)


class City(_Section):
    name: Text
    timezone: Annotated[str, AfterValidator(_known_timezone)] = "Europe/Berlin"
    topics: list[Topic] = Field(min_length=1)
    faq: list[FaqEntry] = Field(default_factory=list)
    staff: list[StaffMember] = Field(default_factory=list)
    digest_time: ClockTime = datetime.time(7, 0)
    quiet_hours: QuietHours = QuietHours()
    # Scheduled news and digests due while the service was down still go out this long after their time.
    schedule_grace_minutes: float = Field(30, ge=0)
    reply_share: float = Field(0.10, ge=0.01, le=0.5)  # of the send limit, kept for answers (limiter.py)
    privacy: Privacy
    retention: Retention = Retention()
    netiquette: Localized
    contact: Contact
    alternative_channels: list[AlternativeChannel] = Field(default_factory=list)
    alerts_need_approval: bool = True
    draft_expiry_hours: float = Field(24, gt=0)
    alert_escalation_minutes: float = Field(10, gt=0)
    correction_days: int = Field(7, ge=1, le=30)  # for /korrektur; recipients' message ids kept as long
    flood: Flood = Flood()
    whatsapp_templates: WhatsAppTemplates = WhatsAppTemplates()
    feeds: list[Feed] = Field(default_factory=list)
    # Charts (/statistik, the sandbox page) draw topic n in colour n, starting over when there are fewer.
    chart_colours: list[HexColour] = Field(default_factory=lambda: list(DEFAULT_CHART_COLOURS), min_length=1)
    warnings: Warnings | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def topic(self, topic_id: str) -> Topic | None:
        return next((topic for topic in self.topics if topic.id == topic_id), None)

    def staff_member(self, staff_id: str) -> StaffMember | None:
        return next((member for member in self.staff if member.id == staff_id), None)

    def staff_by_telegram(self, user_id: int) -> StaffMember | None:
        return next((member for member in self.staff if member.telegram_id == user_id), None)

    def staff_by_whatsapp(self, number: str) -> StaffMember | None:
        number = _phone_digits(number)
        return next((member for member in self.staff if member.whatsapp == number), None)

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        # Reported together, each with its own location, so one round of editing can fix them all.
        if errors := reference_errors(self):
            summary = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in errors)
            raise PydanticCustomError(
                REFERENCE_ERROR_TYPE, "{summary}", {"summary": summary, "errors": errors}
            )
        return self


def load_city(path: Path) -> City:
    """Read and check a city file; any problem with it is raised as one `CityFileError`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError)
        message = (
            f"file not found (looked for {path.absolute()})" if missing else f"cannot read it: {exc.strerror}"
        )
        raise CityFileError(path, [CityFileProblem(None, "", message)]) from None
    try:
        # utf-8-sig: Windows editors like to start UTF-8 files with a byte order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f'the file is not saved as UTF-8 (byte {raw[exc.start]:#04x}); save it again as "UTF-8"'
        raise CityFileError(path, [CityFileProblem(line, "", message)]) from None
    try:
        # The loader checks for unprintable characters as soon as it is created.
        loader = CityLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise CityFileError(path, [yaml_problem(exc, text)]) from None
    if not isinstance(data, dict):
        found = "empty" if data is None else "a list" if isinstance(data, list) else "a single value"
        message = f'the file is {found}; it must consist of "key: value" lines such as "name:" and "topics:"'
        raise CityFileError(path, [CityFileProblem(None, "", message)])
    problems = duplicate_key_problems(root)
    try:
        city = City.model_validate(data)
    except ValidationError as exc:
        problems += problems_from_validation(exc, root, City)
    else:
        if not problems:
            return city
    raise CityFileError(path, sorted(problems, key=lambda problem: problem.line or 0))
