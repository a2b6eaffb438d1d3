"""Messages about a broken city file, written for the press officer who edits it rather than a developer.

Every problem is pinned to a line of the YAML file: pydantic reports where in the data something is wrong
(`loc`), and walking the composed YAML nodes along that path finds the line it came from.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

if TYPE_CHECKING:
    from city.config import City

# The error type under which `City` reports all cross-references at once; ctx["errors"] holds the details.
REFERENCE_ERROR_TYPE = "city_references"
MAX_LISTED = 10
MAX_SHOWN_VALUE = 40

_SECTION = 'must be a group of "key: value" lines'
_MESSAGES = {
    "string_type": "must be text",
    "string_too_short": "must not be empty",
    "too_short": "must have at least one entry",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number like 24 or 1.5 (with a dot, not a comma)",
    "float_parsing": "must be a number like 24 or 1.5 (with a dot, not a comma)",
    "finite_number": "must be an ordinary number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than_equal": "must be {le} or less",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "time_type": 'must be a time of day like "07:00"',
    "time_parsing": 'must be a time of day like "07:00"',
    "list_type": 'must be a list, one entry per line starting with "- "',
    "dict_type": _SECTION,
    "model_type": _SECTION,
    "model_attributes_type": _SECTION,
}
# PyYAML's wording assumes one knows how YAML is parsed; these say what to change instead.
_YAML_HINTS = (
    ("'\\t'", "a tab character; indent with spaces only"),
    ("cannot start any token", 'text starting with this character must be put in "double quotes"'),
    (
        "mapping values are not allowed",
        'unexpected ":"; put text containing ": " in quotes, or fix the indentation',
    ),
    (
        "could not find expected ':'",
        'this line or the one above lacks its ":" or is indented differently from its neighbours',
    ),
    ("expected <block end>", "the indentation does not line up with the lines above"),
    ("single document", 'only one document is allowed; remove the second "---"'),
    ("end of stream", "a quote is opened here but never closed"),
)


@dataclass(frozen=True, slots=True)
class CityFileProblem:
    line: int | None
    path: str  # e.g. "topics[3].id"; empty when the problem concerns the whole file
    message: str

    def describe(self) -> str:
        where = ", ".join(part for part in (f"line {self.line}" if self.line else "", self.path) if part)
        return f"{where}: {self.message}" if where else self.message


def render(filename: str, problems: Sequence[CityFileProblem]) -> str:
    if len(problems) == 1:
        separator = ", " if problems[0].line or problems[0].path else ": "
        return f"{filename}{separator}{problems[0].describe()}"
    lines = [f"{filename}: {len(problems)} problems"]
    lines += [f"  - {problem.describe()}" for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  … and {len(problems) - MAX_LISTED} more")
    return "\n".join(lines)


def closest(word: str, candidates: Sequence[str]) -> str | None:
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.lower(), by_lower, n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def format_path(loc: Sequence[int | str]) -> str:
    # Counted from 1 because the people reading this count topics and staff from 1.
    path = ""
    for part in loc:
        path += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def yaml_problem(exc: yaml.YAMLError, text: str) -> CityFileProblem:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "unreadable"
        # An unclosed quote is noticed at the end of the file; where it was opened is the useful line.
        mark = exc.context_mark if "end of stream" in problem and exc.context_mark else exc.problem_mark
        explained = f"{exc.context or ''} {problem}"
        hint = next((hint for needle, hint in _YAML_HINTS if needle in explained), problem)
        return CityFileProblem(mark.line + 1 if mark else None, "", f"the file is not valid YAML: {hint}")
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        line = text.count("\n", 0, exc.position) + 1
        message = f"the file contains an invisible control character ({char:#04x}); delete it"
        return CityFileProblem(line, "", message)
    return CityFileProblem(None, "", f"the file is not valid YAML: {exc}")


def duplicate_key_problems(root: yaml.Node | None) -> list[CityFileProblem]:
    """PyYAML silently keeps the last of two equal keys, so a pasted second `en:` would vanish unnoticed."""
    problems: list[CityFileProblem] = []
    pending: list[tuple[yaml.Node, tuple[int | str, ...]]] = [(root, ())] if root else []
    visited: set[int] = set()
    while pending:
        node, loc = pending.pop()
        if id(node) in visited:  # aliases share nodes
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_lines: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in first_lines:
                        message = (
                            f"appears twice (first on line {first_lines[key.value]}); remove one of them"
                        )
                        problems.append(CityFileProblem(line, format_path((*loc, key.value)), message))
                    first_lines.setdefault(key.value, line)
                    pending.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, (*loc, index)) for index, item in enumerate(node.value))
    return problems


def reference_errors(city: City) -> list[ErrorDetails]:
    """What only the whole city can tell: duplicate ids and roles naming topics that do not exist."""
    errors: list[ErrorDetails] = []

    def error(loc: tuple[int | str, ...], msg: str, suggestion: str | None = None) -> None:
        errors.append({"type": "city_reference", "loc": loc, "msg": msg, "input": None})
        if suggestion:
            errors[-1]["ctx"] = {"suggestion": suggestion}

    topic_ids = [topic.id for topic in city.topics]
    for index, topic_id in enumerate(topic_ids):
        if topic_id in topic_ids[:index]:
            error(("topics", index, "id"), f'"{topic_id}" is used twice; every topic needs its own id')
    staff_ids = [member.id for member in city.staff]
    for index, staff_id in enumerate(staff_ids):
        if staff_id in staff_ids[:index]:
            error(("staff", index, "id"), f'"{staff_id}" is used twice; every person needs their own id')
    for key in ("telegram_id", "whatsapp"):
        owners: dict[object, str] = {}
        for index, member in enumerate(city.staff):
            value = getattr(member, key)
            if value is not None and value in owners:
                error(("staff", index, key), f'{value} already belongs to staff member "{owners[value]}"')
            owners.setdefault(value, member.id)
    for index, member in enumerate(city.staff):
        for role, scope in member.roles.items():
            for position, topic_id in enumerate(scope if isinstance(scope, list) else []):
                if topic_id not in topic_ids:
                    where = ("staff", index, "roles", role, position)
                    error(where, f'unknown topic "{topic_id}"', closest(topic_id, topic_ids))
    _check_feeds(city, error)
    if city.warnings is not None and city.warnings.topic not in topic_ids:
        topic = city.warnings.topic
        error(("warnings", "topic"), f'unknown topic "{topic}"', closest(topic, topic_ids))
    if city.correction_days > city.retention.delivery_records_days:
        # The message ids go with the delivery records: a correction after that would reach nobody.
        error(
            ("correction_days",),
            f"{city.correction_days} days is longer than retention.delivery_records_days "
            f"({city.retention.delivery_records_days}); corrections need the delivery records",
        )
    return errors


def _check_feeds(city: City, error: Callable[..., None]) -> None:
    """Feeds name existing topics, each feed once; `publish` only where no second person approves."""
    topics = {topic.id: topic for topic in city.topics}
    seen: set[str] = set()
    for index, feed in enumerate(city.feeds):
        if feed.id in seen:
            error(("feeds", index, "id"), f'"{feed.id}" is used twice; every feed needs its own id')
        seen.add(feed.id)
        for position, topic_id in enumerate(feed.topic):
            if topic_id not in topics:
                error(("feeds", index, "topic", position), f'unknown topic "{topic_id}"',
                      closest(topic_id, list(topics)))  # fmt: skip
        for topic_id in feed.topic_by_keyword:
            if topic_id not in topics:
                error(("feeds", index, "topic_by_keyword", topic_id), f'unknown topic "{topic_id}"',
                      closest(topic_id, list(topics)))  # fmt: skip
        if feed.mode == "publish":
            for topic_id in feed.topic_ids:
                if topic_id in topics and topics[topic_id].approval_required:
                    hint = 'use "draft", or set "approval_required: false" on the topic'
                    message = f'"publish" sends without a second person, but "{topic_id}" needs approval'
                    error(("feeds", index, "mode"), f"{message}; {hint}")


def problems_from_validation(
    exc: ValidationError, root: yaml.Node | None, model: type[BaseModel]
) -> list[CityFileProblem]:
    errors: list[ErrorDetails] = []
    for error in exc.errors(include_url=False):
        if error["type"] == REFERENCE_ERROR_TYPE:
            nested: list[ErrorDetails] = error["ctx"]["errors"]
            errors += [{**inner, "loc": (*error["loc"], *inner["loc"])} for inner in nested]
        else:
            errors.append(error)
    problems: list[CityFileProblem] = []
    for error in errors:
        line, path = _locate(root, error["loc"])
        problem = CityFileProblem(line, path, _describe(error, model))
        if problem not in problems:
            problems.append(problem)
    return problems


def _locate(root: yaml.Node | None, loc: Sequence[int | str]) -> tuple[int | None, str]:
    """The line of the key or list entry `loc` points at, or of its nearest ancestor that is in the file."""
    line: int | None = None
    node = root
    shown: list[int | str] = []
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself is wrong", which is on the same line
            continue
        if isinstance(node, yaml.MappingNode):
            # The last of duplicate keys, as that is the one PyYAML hands to pydantic.
            match = [(key, value) for key, value in node.value if getattr(key, "value", None) == str(part)]
            node = match[-1][1] if match else None
            line = match[-1][0].start_mark.line + 1 if match else line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        elif node is not None and isinstance(part, str):
            continue  # a union member's tag like "list[str]", not a key of the file
        else:
            node = None
        shown.append(part)
    return line, format_path(shown)


def _describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind, value, loc = error["type"], error["input"], error["loc"]
    ctx = error.get("ctx", {})
    if kind == "missing":
        return "this required key is missing"
    if kind == "extra_forbidden":
        key, allowed = str(loc[-1]), _keys_at(model, loc[:-1])
        suggestion = closest(key, allowed)
        if suggestion:
            return f'unknown key "{key}", did you mean "{suggestion}"?'
        return f'unknown key "{key}"' + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
    keys = _keys_at(model, loc)
    if value is None and (kind.endswith("_type") or kind == "string_too_short"):
        return "must not be empty" + (f" (expected keys: {', '.join(keys)})" if keys else "")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = f"must be one of: {', '.join(options)}"
        if isinstance(value, str) and (suggestion := closest(value, options)):
            ctx = {**ctx, "suggestion": suggestion}
    elif kind in _MESSAGES:
        message = _MESSAGES[kind].format(**ctx)
        if kind in {"dict_type", "model_type", "model_attributes_type"} and keys:
            message += f" (keys: {', '.join(keys)})"
    else:
        message = error["msg"].removeprefix("Value error, ")
    if isinstance(value, str | int | float):
        shown = str(value) if len(str(value)) <= MAX_SHOWN_VALUE else f"{str(value)[:MAX_SHOWN_VALUE]}…"
        message += f' (got "{shown}")' if isinstance(value, str) else f" (got {shown})"
    if suggestion := ctx.get("suggestion"):
        message += f', did you mean "{suggestion}"?'
    return message


def _keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed in the section `loc` points at, found by following the models' type annotations."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in {list, dict}:
            annotation = get_args(annotation)[-1]
        elif part != "[key]":
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in {Union, types.UnionType}:
            members = [member for member in get_args(annotation) if member is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
