"""What residents and staff read, from gettext catalogs (handlers/locale/*.po) keyed by message id."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LOCALE_DIR = Path(__file__).parent / "locale"


class Texts:
    def __init__(self, catalogs: Mapping[str, Mapping[str, str]]) -> None:
        self._catalogs = catalogs

    @classmethod
    def load(cls, directory: Path = LOCALE_DIR) -> Texts:
        catalogs: dict[str, dict[str, str]] = {}
        for language in LANGUAGES:
            with (directory / f"{language}.po").open("rb") as handle:
                catalog = read_po(handle)
            catalogs[language] = {str(m.id): str(m.string) for m in catalog if m.id and m.string}
        return cls(catalogs)

    def __call__(self, language: str, key: str, /, **values: object) -> str:
        """The text in the resident's language, falling back to German where a translation is missing."""
        template = self._catalogs.get(language, {}).get(key) or self._catalogs[DEFAULT_LANGUAGE][key]
        return template.format(**values) if values else template

    def keys(self, language: str) -> frozenset[str]:
        return frozenset(self._catalogs.get(language, {}))


def pick_language(choice: str | None) -> str | None:
    """Map what a person typed or their messenger reported ("en-GB", "EN", "english") to a language."""
    if not choice:
        return None
    normalized = choice.strip().lower()
    aliases = {"deutsch": "de", "german": "de", "englisch": "en", "english": "en"}
    normalized = aliases.get(normalized, normalized.split("-")[0].split("_")[0])
    return normalized if normalized in LANGUAGES else None
