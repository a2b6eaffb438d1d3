"""The /statistik chart: a PNG of the expected size, drawn from the counts in the city's colours."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from city.colours import DEFAULT_CHART_COLOURS
from city.config import load_city
from city.statistics import DAYS, History
from handlers.charts import HEIGHT_PX, WIDTH_PX, render_chart
from handlers.texts import Texts

CITY = load_city(Path(__file__).parents[2] / "bot" / "cities" / "beispielstadt.yaml")
TEXTS = Texts.load()
DAYS_SHOWN = [date(2026, 11, 1) + timedelta(days=n) for n in range(DAYS)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def history(delivered: list[int], levels: dict[str, list[int | None]] | None = None) -> History:
    nothing: list[int | None] = [None] * DAYS
    return History(
        days=DAYS_SHOWN,
        subscribers={topic.id: (levels or {}).get(topic.id, nothing) for topic in CITY.topics},
        delivered=delivered,
        undelivered=[0] * DAYS,
    )


def pixels_of(png: bytes, colour: str) -> int:
    """How many pixels have exactly this "#rrggbb" colour (antialiased edges aside)."""
    image = imread(io.BytesIO(png), format="png")[:, :, :3]
    wanted = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.all(np.abs(image - wanted) < 1 / 255, axis=2).sum())


def test_the_chart_is_a_png_of_the_expected_size() -> None:
    png = render_chart(history([3] * DAYS), CITY, TEXTS, "de")
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    assert int.from_bytes(png[16:20], "big") == WIDTH_PX
    assert int.from_bytes(png[20:24], "big") == HEIGHT_PX
    assert imread(io.BytesIO(png), format="png").shape[:2] == (HEIGHT_PX, WIDTH_PX)


def test_the_bars_grow_with_the_deliveries_in_the_city_colour() -> None:
    delivered = CITY.chart_colours[0]
    few = pixels_of(render_chart(history([0] * (DAYS - 1) + [10]), CITY, TEXTS, "de"), delivered)
    many = pixels_of(render_chart(history([10] * DAYS), CITY, TEXTS, "de"), delivered)
    # One bar among thirty at full height, then thirty at full height: thirty times the area, give or take.
    assert many > 20 * few > 0


def test_each_topic_is_drawn_in_its_colour_from_the_city_file() -> None:
    recolored = CITY.model_copy(update={"chart_colours": ["#123456", "#abcdef"]})
    levels: dict[str, list[int | None]] = {"verkehr": [None] * 10 + [n for n in range(20)]}
    png = render_chart(history([0] * DAYS, levels), recolored, TEXTS, "de")
    # The line in the first topic's colour is more than its legend's sample, and the default is unused.
    assert pixels_of(png, "#123456") > 500
    assert pixels_of(png, DEFAULT_CHART_COLOURS[2]) == 0
    unrecorded = render_chart(history([0] * DAYS), recolored, TEXTS, "de")
    assert pixels_of(unrecorded, "#123456") < pixels_of(png, "#123456") / 2


def test_the_labels_follow_the_language() -> None:
    german = render_chart(history([1] * DAYS), CITY, TEXTS, "de")
    english = render_chart(history([1] * DAYS), CITY, TEXTS, "en")
    assert german != english
