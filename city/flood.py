"""The city file's `flood:` section: how fast one chat may write before its messages are not handled."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Flood(BaseModel):
    """More than `messages` within `seconds` and a chat's further messages are not handled (one notice,
    then silence until it calms down). Staff are exempt."""

    # As every section of the city file: shared by every conversation, and a misspelt key is an error.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    messages: int = Field(8, ge=1, le=1000, description="messages a chat may send within `seconds`")
    seconds: float = Field(10, gt=0, le=3600, description="the sliding window the budget counts over")
