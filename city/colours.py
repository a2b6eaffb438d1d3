"""The city's colours for charts (city file key `chart_colours`): "#rrggbb" values, one per topic in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

HEX_COLOUR = "#rrggbb"
# A calm default with enough contrast between neighbours, for a city file that names no colours.
DEFAULT_CHART_COLOURS = (
    "#1d4e89",
    "#e07b00",
    "#2e7d32",
    "#c62828",
    "#6a3d9a",
    "#00838f",
    "#8d6e63",
    "#5d6d7e",
)


def _hex_colour(value: str) -> str:
    digits = value.removeprefix("#")
    if (
        not value.startswith("#")
        or len(digits) != 6
        or any(c not in "0123456789abcdefABCDEF" for c in digits)
    ):
        raise PydanticCustomError("colour", f'must be a colour written as "{HEX_COLOUR}", like "#1d4e89"')
    return value.lower()


HexColour = Annotated[str, AfterValidator(_hex_colour)]


def colour_for(colours: Sequence[str], index: int) -> str:
    """The n-th topic's colour; a short list starts over."""
    return colours[index % len(colours)]
