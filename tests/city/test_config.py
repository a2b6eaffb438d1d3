"""The city file: the shipped example, the model's helpers, and messages a press officer can act on."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import get_args

import pytest
import yaml

from bot.settings import DEFAULT_CITY_FILE
from city.colours import DEFAULT_CHART_COLOURS
from city.config import City, CityFileError, Localized, Role, StaffMember, load_city

# A small valid city; each error case below edits it and marks the line the message must name with "# <-".
BASE = """\
name: Teststadt
topics:
  - id: verkehr
    name: {de: Verkehr, en: Traffic}
    description: Staumeldungen
    department: Ordnungsamt
  - id: kultur
    name: Kultur
    description: Konzerte
    department: Kulturamt
staff:
  - id: anna
    name: Anna
    telegram_id: 1
    roles: {editor: [verkehr]}
privacy:
  version: "1"
  notice: Wir speichern wenig.
netiquette: Bitte freundlich bleiben.
contact:
  name: Presseamt
"""
FILENAME = "teststadt.yaml"
MARK = "# <-"


def edited(edits: dict[str, str]) -> str:
    text = BASE
    for old, new in edits.items():
        assert text.count(old) == 1, f"{old!r} must occur exactly once in BASE"
        text = text.replace(old, new)
    return text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / FILENAME
    path.write_text(text, encoding="utf-8")
    return path


def marked_line(text: str) -> int:
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if MARK in line]
    assert len(lines) == 1, "mark exactly one line"
    return lines[0]


def error_for(path: Path) -> str:
    with pytest.raises(CityFileError) as caught:
        load_city(path)
    message = str(caught.value)
    for leak in ("Traceback", "pydantic", "type=", "input_value", "Value error"):
        assert leak not in message
    return message


@pytest.fixture(scope="module")
def example() -> City:
    return load_city(DEFAULT_CITY_FILE)


def test_retention_has_defaults_when_the_city_file_names_none(tmp_path: Path) -> None:
    retention = load_city(write(tmp_path, BASE)).retention
    assert retention.model_dump() == {
        "unsubscribed_days": 30,
        "blocked_days": 90,
        "delivery_records_days": 30,
        "audit_days": 365,
    }


def test_chart_colours_default_to_a_calm_palette_and_are_written_in_lower_case(tmp_path: Path) -> None:
    assert load_city(write(tmp_path, BASE)).chart_colours == list(DEFAULT_CHART_COLOURS)
    named = load_city(write(tmp_path, edited({"contact:": 'chart_colours: ["#1D4E89"]\ncontact:'})))
    assert named.chart_colours == ["#1d4e89"]


def test_correction_days_defaults_to_seven_and_stays_within_the_delivery_records(tmp_path: Path) -> None:
    assert load_city(write(tmp_path, BASE)).correction_days == 7
    message = error_for(write(tmp_path, BASE + "correction_days: 40\n"))
    assert "correction_days" in message
    longer = BASE + "correction_days: 20\nretention:\n  delivery_records_days: 14\n"
    assert "longer than retention.delivery_records_days (14)" in error_for(write(tmp_path, longer))


def test_flood_budget_has_a_default_and_is_checked(tmp_path: Path) -> None:
    assert load_city(write(tmp_path, BASE)).flood.model_dump() == {"messages": 8, "seconds": 10}
    custom = load_city(write(tmp_path, BASE + "flood: {messages: 20, seconds: 30}\n")).flood
    assert (custom.messages, custom.seconds) == (20, 30)
    message = error_for(write(tmp_path, BASE + "flood: {messages: 0, seconds: 10}  # <-\n"))
    assert "flood.messages" in message
    message = error_for(write(tmp_path, BASE + "flood: {messages: 8, seconds: -1, burst: 3}  # <-\n"))
    assert "flood.seconds" in message
    assert "flood.burst" in message


def test_reply_share_has_a_default_and_is_checked(tmp_path: Path) -> None:
    assert load_city(write(tmp_path, BASE)).reply_share == 0.10
    assert load_city(write(tmp_path, BASE + "reply_share: 0.25\n")).reply_share == 0.25
    for wrong in ("0", "0.6", "viel"):
        assert "reply_share" in error_for(write(tmp_path, BASE + f"reply_share: {wrong}  # <-\n"))


def test_base_is_valid(tmp_path: Path) -> None:
    city = load_city(write(tmp_path, BASE))
    assert [topic.id for topic in city.topics] == ["verkehr", "kultur"]


# --- the shipped example -------------------------------------------------------------------------


def test_example_topics(example: City) -> None:
    assert example.name == "Beispielstadt"
    ids = [topic.id for topic in example.topics]
    assert {"verkehr", "baustellen", "kultur", "feuerwehr", "ratssitzungen", "abfall", "sternwarte"} <= set(
        ids
    )
    assert 6 <= len(ids) <= 8
    feuerwehr, sternwarte = example.topic("feuerwehr"), example.topic("sternwarte")
    assert feuerwehr is not None
    assert feuerwehr.approval_required
    assert feuerwehr.name.get("en") == "Fire brigade & emergencies"
    assert sternwarte is not None
    assert not sternwarte.approval_required
    assert sternwarte.department == "Volkssternwarte"
    assert all(topic.name.en and topic.description.en for topic in example.topics)
    assert example.topic("nope") is None


def test_example_settings(example: City) -> None:
    assert example.tz.key == "Europe/Berlin"
    assert example.digest_time == datetime.time(7, 0)
    assert (example.quiet_hours.start, example.quiet_hours.end) == (datetime.time(22), datetime.time(7))
    assert example.privacy.version == "2026-11-01"
    assert example.alerts_need_approval
    assert example.draft_expiry_hours == 24
    assert example.alert_escalation_minutes == 10
    assert example.correction_days == 7
    assert (example.flood.messages, example.flood.seconds) == (8, 10)
    retention = example.retention
    assert (retention.unsubscribed_days, retention.blocked_days) == (30, 90)
    assert (retention.delivery_records_days, retention.audit_days) == (30, 365)
    assert example.alternative_channels
    assert all(channel.url.startswith("https://") for channel in example.alternative_channels)


def test_example_texts(example: City) -> None:
    assert 6 <= len(example.faq) <= 10
    assert all(entry.answer.en and entry.keywords for entry in example.faq)
    notice = example.privacy.notice
    for needle in ("Art. 6 Abs. 1 lit. a", "Datenschutzbeauftragte", "Themen", "Sprache", "Einwilligung"):
        assert needle in notice.de
    assert notice.en is not None
    assert "Art. 6(1)(a)" in notice.en
    # A Telegram message holds at most 4096 characters.
    assert max(len(notice.de), len(notice.en)) < 4096
    assert example.netiquette.en


def test_example_staff(example: City) -> None:
    admin = example.staff_by_telegram(100001)
    assert admin is not None
    assert admin.roles == {"admin": "all"}
    feuerwehr = example.staff_by_whatsapp("+4915100000004")
    assert feuerwehr is not None
    assert feuerwehr.id == "feuerwehr-lagedienst"
    for role in ("editor", "approver", "alert"):
        assert feuerwehr.topics_for(role) == frozenset({"feuerwehr"})
    sternwarte = next(member for member in example.staff if member.id == "sternwarte")
    assert sternwarte.topics_for("editor") == frozenset({"sternwarte"})
    assert example.staff_by_telegram(999) is None
    assert example.staff_by_whatsapp("4915199999999") is None


# --- model helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", get_args(Role))
def test_admin_holds_every_role_for_all_topics(role: Role) -> None:
    admin = StaffMember(id="chefin", name="Chefin", telegram_id=1, roles={"admin": "all"})
    assert admin.topics_for(role) == "all"


def test_topics_for_other_roles() -> None:
    member = StaffMember(
        id="ben", name="Ben", whatsapp="+49 151 0000 0001", roles={"editor": ["kultur"], "approver": "all"}
    )
    assert member.whatsapp == "4915100000001"
    assert member.topics_for("editor") == frozenset({"kultur"})
    assert member.topics_for("approver") == "all"
    assert member.topics_for("alert") == frozenset()
    assert member.topics_for("admin") == frozenset()


def test_localized_falls_back_to_german() -> None:
    both = Localized(de="Verkehr", en="Traffic")
    assert both.get("en") == "Traffic"
    assert both.get("de") == "Verkehr"
    assert both.get("fr") == "Verkehr"
    assert Localized(de="Verkehr").get("en") == "Verkehr"
    assert Localized(de="  Verkehr \n", en="  ").model_dump() == {"de": "Verkehr", "en": None}
    assert Localized.model_validate("Nur Deutsch") == Localized(de="Nur Deutsch")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("07:00", datetime.time(7, 0)),
        ('"07:00"', datetime.time(7, 0)),
        ("7:30", datetime.time(7, 30)),
        ("'22:15'", datetime.time(22, 15)),
        ("6.45 Uhr", datetime.time(6, 45)),
    ],
)
def test_times_quoted_or_not(tmp_path: Path, written: str, expected: datetime.time) -> None:
    text = BASE + f"digest_time: {written}\nquiet_hours:\n  start: {written}\n"
    city = load_city(write(tmp_path, text))
    assert city.digest_time == expected
    assert city.quiet_hours.start == expected
    assert city.quiet_hours.end == datetime.time(7, 0)


def test_yaml_safe_load_sexagesimal_time_is_understood() -> None:
    # yaml.safe_load reads an unquoted 7:00 as 420 (minutes), so callers bypassing load_city are covered too.
    data = yaml.safe_load(BASE + "digest_time: 7:00\nquiet_hours: {start: 22:30, end: 06:00}\n")
    assert (data["digest_time"], data["quiet_hours"]["start"]) == (420, 1350)
    city = City.model_validate(data)
    assert city.digest_time == datetime.time(7, 0)
    assert (city.quiet_hours.start, city.quiet_hours.end) == (datetime.time(22, 30), datetime.time(6))


def test_values_stay_as_typed(tmp_path: Path) -> None:
    text = edited(
        {
            'version: "1"': "version: 2026-11-01",
            "  name: Presseamt": "  name: Presseamt\n  phone: 0231123",
            "    name: Kultur\n": "    name: no\n",
        }
    )
    city = load_city(write(tmp_path, text))
    assert city.privacy.version == "2026-11-01"
    assert city.contact.phone == "0231123"
    assert city.topics[1].name.de == "no"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_city(path).name == "Teststadt"


# --- messages for the press officer --------------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        {"  - id: kultur": "  - id: Kultur Nord  # <-"},
        "topics[2].id",
        'must be lowercase letters, digits, "-" or "_", at most 24 characters (got "Kultur Nord")',
        id="topic-id-pattern",
    ),
    pytest.param(
        {"  - id: kultur": "  - id: kultur-und-veranstaltungen-2026  # <-"},
        "topics[2].id",
        "at most 24 characters",
        id="topic-id-too-long",
    ),
    pytest.param(
        {"    department: Kulturamt": "    departmnt: Kulturamt  # <-"},
        "topics[2].departmnt",
        'unknown key "departmnt", did you mean "department"?',
        id="unknown-key-suggestion",
    ),
    pytest.param(
        {"contact:": "retention:\n  unsubscribe_days: 30  # <-\ncontact:"},
        "retention.unsubscribe_days",
        'unknown key "unsubscribe_days", did you mean "unsubscribed_days"?',
        id="retention-key-suggestion",
    ),
    pytest.param(
        {"contact:": "retention:\n  blocked_days: -5  # <-\ncontact:"},
        "retention.blocked_days",
        'must be 0 or more (got "-5")',
        id="retention-negative-days",
    ),
    pytest.param(
        {"contact:": "retention:\n  audit_days: ein Jahr  # <-\ncontact:"},
        "retention.audit_days",
        'must be a whole number (got "ein Jahr")',
        id="retention-days-as-words",
    ),
    pytest.param(
        {"contact:": 'digest_tme: "07:00"  # <-\ncontact:'},
        "digest_tme",
        'unknown key "digest_tme", did you mean "digest_time"?',
        id="unknown-top-level-key",
    ),
    pytest.param(
        {"    department: Kulturamt": "    department: Kulturamt\n    colour: red  # <-"},
        "topics[2].colour",
        'unknown key "colour" (allowed here: id, name, description, department,',
        id="unknown-key-lists-allowed",
    ),
    pytest.param(
        {"  - id: verkehr": "  - id: verkehr  # <-", "    department: Ordnungsamt\n": ""},
        "topics[1].department",
        "this required key is missing",
        id="missing-nested-key",
    ),
    pytest.param(
        {"roles: {editor: [verkehr]}": "roles: {editor: [verkehr, kutlur]}  # <-"},
        "staff[1].roles.editor[2]",
        'unknown topic "kutlur", did you mean "kultur"?',
        id="unknown-topic-in-roles",
    ),
    pytest.param(
        {"roles: {editor: [verkehr]}": "roles:\n      editor:\n        - verkehr\n        - sport  # <-"},
        "staff[1].roles.editor[2]",
        'unknown topic "sport"',
        id="unknown-topic-in-block-list",
    ),
    pytest.param(
        {"roles: {editor: [verkehr]}": "roles: {editr: [verkehr]}  # <-"},
        "staff[1].roles.editr",
        'must be one of: editor, approver, alert, admin (got "editr"), did you mean "editor"?',
        id="unknown-role",
    ),
    pytest.param(
        {"roles: {editor: [verkehr]}": "roles: {editor: everything}  # <-"},
        "staff[1].roles.editor",
        'must be "all" or a list of topic ids',
        id="role-scope",
    ),
    pytest.param(
        {"roles: {editor: [verkehr]}": "roles: {admin: [verkehr]}  # <-"},
        "staff[1].roles",
        'write "admin: all"',
        id="admin-limited-to-topics",
    ),
    pytest.param(
        {"roles: {editor: [verkehr]}": "roles: {}  # <-"},
        "staff[1].roles",
        "must have at least one entry",
        id="no-roles",
    ),
    pytest.param(
        {"  - id: anna": "  - id: anna  # <-", "    telegram_id: 1\n": ""},
        "staff[1]",
        'needs a "telegram_id" or a "whatsapp" number',
        id="staff-unreachable",
    ),
    pytest.param(
        {"    telegram_id: 1": "    telegram_id: 1\n    whatsapp: 0151 2345678  # <-"},
        "staff[1].whatsapp",
        'must be an international number with country code, like "+4915100000001" (got "0151 2345678")',
        id="whatsapp-national-format",
    ),
    pytest.param(
        {"    telegram_id: 1": '    telegram_id: "@anna"  # <-'},
        "staff[1].telegram_id",
        'must be a whole number (got "@anna")',
        id="telegram-id-not-a-number",
    ),
    pytest.param(
        {"  - id: kultur": "  - id: verkehr  # <-"},
        "topics[2].id",
        '"verkehr" is used twice',
        id="duplicate-topic-id",
    ),
    pytest.param(
        {
            "privacy:": "  - id: anna  # <-\n    name: Anna B.\n    telegram_id: 2\n"
            "    roles: {editor: all}\nprivacy:"
        },
        "staff[2].id",
        '"anna" is used twice',
        id="duplicate-staff-id",
    ),
    pytest.param(
        {
            "privacy:": "  - id: bert\n    name: Bert\n    telegram_id: 1  # <-\n    roles: {editor: all}\n"
            "privacy:"
        },
        "staff[2].telegram_id",
        '1 already belongs to staff member "anna"',
        id="duplicate-telegram-id",
    ),
    pytest.param(
        {"contact:": 'digest_time: "25:00"  # <-\ncontact:'},
        "digest_time",
        'must be a time of day like "07:00" (got "25:00")',
        id="bad-time",
    ),
    pytest.param(
        {"contact:": 'quiet_hours:\n  start: "22:00"\n  end: morgens  # <-\ncontact:'},
        "quiet_hours.end",
        'must be a time of day like "07:00"',
        id="bad-nested-time",
    ),
    pytest.param(
        {"name: Teststadt": "name: Teststadt\ntimezone: Europe/Berln  # <-"},
        "timezone",
        'must be a time zone name like "Europe/Berlin" (got "Europe/Berln"), did you mean "Europe/Berlin"?',
        id="bad-timezone",
    ),
    pytest.param(
        {"    description: Konzerte": '    description: ""  # <-'},
        "topics[2].description",
        "must not be empty",
        id="empty-text",
    ),
    pytest.param(
        {"    name: {de: Verkehr, en: Traffic}": "    name: {en: Traffic}  # <-"},
        "topics[1].name.de",
        "this required key is missing",
        id="missing-german",
    ),
    pytest.param(
        {"  notice: Wir speichern wenig.": "  notice:  # <-"},
        "privacy.notice",
        "must not be empty (expected keys: de, en)",
        id="empty-section",
    ),
    pytest.param(
        {"contact:": "faq: Sperrmüll  # <-\ncontact:"},
        "faq",
        'must be a list, one entry per line starting with "- "',
        id="not-a-list",
    ),
    pytest.param(
        {"contact:\n  name: Presseamt": "contact: Presseamt  # <-"},
        "contact",
        'must be a group of "key: value" lines (keys: name, email, phone, website)',
        id="not-a-section",
    ),
    pytest.param(
        {"    department: Kulturamt": "    department: Kulturamt\n    approval_required: vielleicht  # <-"},
        "topics[2].approval_required",
        'must be true or false (got "vielleicht")',
        id="not-a-bool",
    ),
    pytest.param(
        {"contact:": "draft_expiry_hours: 1,5  # <-\ncontact:"},
        "draft_expiry_hours",
        "must be a number like 24 or 1.5 (with a dot, not a comma)",
        id="decimal-comma",
    ),
    pytest.param(
        {"contact:": "alert_escalation_minutes: 0  # <-\ncontact:"},
        "alert_escalation_minutes",
        "must be greater than 0",
        id="not-positive",
    ),
    pytest.param(
        {"    department: Kulturamt": "    department: Kulturamt\n    mirror_channel: beispielstadt  # <-"},
        "topics[2].mirror_channel",
        'must be a public channel like "@beispielstadt"',
        id="bad-mirror-channel",
    ),
    pytest.param(
        {
            "contact:": "alternative_channels:\n  - name: Website\n    url: www.beispielstadt.de  # <-\n"
            "contact:"
        },
        "alternative_channels[1].url",
        'must be a web address starting with "https://"',
        id="bad-url",
    ),
    pytest.param(
        {"    name: Anna": "    name: Anna\n    name: Anna B.  # <-"},
        "staff[1].name",
        "appears twice (first on line 13)",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        {"    description: Konzerte": "    description: Konzerte: Jazz  # <-"},
        "",
        'the file is not valid YAML: unexpected ":"; put text containing ": " in quotes',
        id="yaml-colon-in-text",
    ),
    pytest.param(
        {"    name: Anna": "\tname: Anna  # <-"},
        "",
        "the file is not valid YAML: a tab character; indent with spaces only",
        id="yaml-tab",
    ),
    pytest.param(
        {"    department: Kulturamt": "    department: Kulturamt\n    mirror_channel: @kultur  # <-"},
        "",
        'the file is not valid YAML: text starting with this character must be put in "double quotes"',
        id="yaml-unquoted-at-sign",
    ),
    pytest.param(
        {"name: Teststadt": "name: 'Teststadt  # <-"},
        "",
        "the file is not valid YAML: a quote is opened here but never closed",
        id="yaml-unclosed-quote",
    ),
    pytest.param(
        {"contact:\n  name: Presseamt\n": "contact:\n  name: Presseamt\n---  # <-\nname: Zweite\n"},
        "",
        'only one document is allowed; remove the second "---"',
        id="yaml-two-documents",
    ),
    pytest.param(
        {"contact:": 'chart_colours: ["#1d4e89", "blau"]  # <-\ncontact:'},
        "chart_colours[2]",
        'must be a colour written as "#rrggbb", like "#1d4e89" (got "blau")',
        id="chart-colour",
    ),
    pytest.param(
        {"    name: Anna": "    name: An\x07na  # <-"},
        "",
        "the file contains an invisible control character (0x07)",
        id="control-character",
    ),
]


@pytest.mark.parametrize(("edits", "key_path", "expected"), ERROR_CASES)
def test_error_names_file_line_and_key(
    tmp_path: Path, edits: dict[str, str], key_path: str, expected: str
) -> None:
    text = edited(edits)
    message = error_for(write(tmp_path, text))
    assert FILENAME in message
    where = f"line {marked_line(text)}, {key_path}: " if key_path else f"line {marked_line(text)}: "
    rows = [row for row in message.splitlines() if where in row]
    assert rows, f"no problem reported at {where!r}:\n{message}"
    assert any(expected in row for row in rows), message


def test_single_problem_is_one_line(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, edited({"  - id: kultur": "  - id: Kultur"})))
    assert message == (
        'teststadt.yaml, line 7, topics[2].id: must be lowercase letters, digits, "-" or "_", '
        'at most 24 characters (got "Kultur")'
    )


def test_missing_top_level_key_has_no_line(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, edited({"contact:\n  name: Presseamt\n": ""})))
    assert message == "teststadt.yaml, contact: this required key is missing"


def test_several_problems_are_listed_under_a_count(tmp_path: Path) -> None:
    text = edited({"  - id: kultur": "  - id: Kultur", "    telegram_id: 1": "    telegram_id: eins"})
    with pytest.raises(CityFileError) as caught:
        load_city(write(tmp_path, text))
    assert str(caught.value).splitlines() == [
        "teststadt.yaml: 2 problems",
        '  - line 7, topics[2].id: must be lowercase letters, digits, "-" or "_", at most 24 characters '
        '(got "Kultur")',
        '  - line 14, staff[1].telegram_id: must be a whole number (got "eins")',
    ]
    assert [problem.line for problem in caught.value.problems] == [7, 14]
    assert caught.value.path.name == FILENAME


def test_long_lists_of_problems_are_cut_short(tmp_path: Path) -> None:
    topics = "".join(
        f"  - id: Thema {number}\n    name: T\n    description: T\n    department: T\n"
        for number in range(12)
    )
    text = BASE.replace("topics:\n", "topics:\n" + topics)
    message = error_for(write(tmp_path, text))
    rows = message.splitlines()
    assert rows[0] == "teststadt.yaml: 12 problems"
    assert len(rows) == 12
    assert rows[-1] == "  … and 2 more"


def test_missing_file(tmp_path: Path) -> None:
    message = error_for(tmp_path / "nirgendwo.yaml")
    assert message.startswith("nirgendwo.yaml: file not found (looked for ")
    assert str(tmp_path) in message


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "ordner.yaml").mkdir()
    assert error_for(tmp_path / "ordner.yaml").startswith("ordner.yaml: cannot read it: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(BASE.replace("Presseamt", "Bürgerbüro").encode("latin-1"))
    message = error_for(path)
    assert message.startswith("teststadt.yaml, line 21: the file is not saved as UTF-8 (byte 0xfc)")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", "empty"),
        ("# nur ein Kommentar\n", "empty"),
        ("- name: a\n", "a list"),
        ("Teststadt\n", "a single value"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    message = error_for(write(tmp_path, text))
    assert message.startswith(f'teststadt.yaml: the file is {found}; it must consist of "key: value" lines')


def test_programmatic_reference_errors_are_readable() -> None:
    data = yaml.safe_load(edited({"roles: {editor: [verkehr]}": "roles: {editor: [sport]}"}))
    with pytest.raises(ValueError, match=r'staff\.0\.roles\.editor\.0: unknown topic "sport"'):
        City.model_validate(data)
