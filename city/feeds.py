"""The city file's `feeds:` section: press releases and partner feeds (RSS or Atom) read into the desk."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# A feed's id names it to admins and in /quellen, and is part of its Redis keys.
FEED_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
FEED_URL = re.compile(r"^https?://\S+$")

FeedMode = Literal["draft", "digest", "publish"]


def _feed_id(value: str) -> str:
    if not FEED_ID.match(value):
        raise PydanticCustomError(
            "pattern", 'must be lowercase letters, digits, "-" or "_", at most 32 characters'
        )
    return value


def _feed_url(value: str) -> str:
    if not FEED_URL.match(value):
        raise PydanticCustomError("pattern", 'must be a web address starting with "https://"')
    return value


def _one_or_more(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _keywords(value: Any) -> Any:
    """Keywords match case-blind, so they are kept in lower case; one keyword may stand without a list."""
    if not isinstance(value, dict):
        return value
    return {
        topic: [word.strip().lower() for word in _one_or_more(words) if isinstance(word, str)]
        if isinstance(_one_or_more(words), list)
        else words
        for topic, words in value.items()
    }


class Feed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    id: Annotated[str, AfterValidator(_feed_id)]
    url: Annotated[str, AfterValidator(_feed_url)]
    # Every item goes to these topics; with `topic_by_keyword`, only the items no keyword matched.
    topic: Annotated[list[str], BeforeValidator(_one_or_more)] = Field(default_factory=list)
    topic_by_keyword: Annotated[
        dict[str, list[Annotated[str, Field(min_length=1)]]], BeforeValidator(_keywords)
    ] = Field(default_factory=dict, description="topic id -> words that send an item there")
    mode: FeedMode = Field(
        "draft",
        description="draft: for the topic's editors | digest: into the next digest | publish: at once",
    )
    poll_minutes: float = Field(10, ge=1, le=24 * 60)

    @model_validator(mode="after")
    def _has_a_topic(self) -> Self:
        if not self.topic and not self.topic_by_keyword:
            raise PydanticCustomError(
                "feed_topic", 'needs "topic" (one id or a list) or "topic_by_keyword", or both'
            )
        for topic, words in self.topic_by_keyword.items():
            if not words:
                raise PydanticCustomError(
                    "feed_keywords", 'topic "{topic}" needs at least one keyword', {"topic": topic}
                )
        return self

    @property
    def topic_ids(self) -> list[str]:
        """Every topic the feed may reach, in the order the file names them."""
        return list(dict.fromkeys([*self.topic, *self.topic_by_keyword]))
