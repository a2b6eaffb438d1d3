"""The /statistik chart: subscribers per topic over the last 30 days and deliveries per day, as one PNG.

Presentation, like the texts: the figures come from city/statistics.py and hold no person, and the
chart shows topic names, days and totals only. matplotlib draws with Agg (no display needed) and with
DejaVu Sans, which ships with matplotlib and has the umlauts. Drawing takes a good part of a second, so
callers run `render_chart` in a thread, off the event loop.
"""

from __future__ import annotations

import io
import math
import threading

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from city.colours import colour_for
from city.config import City
from city.statistics import History
from handlers.texts import Texts

WIDTH_PX, HEIGHT_PX, DPI = 1000, 700, 100
FONT = "DejaVu Sans"
FILENAME = "stadtfunk-statistik.png"
MIME_TYPE = "image/png"
# matplotlib's settings are process-wide; one drawing at a time keeps a drawing's settings its own.
_DRAWING = threading.Lock()


def render_chart(history: History, city: City, texts: Texts, language: str) -> bytes:
    """Both panels as one PNG of WIDTH_PX × HEIGHT_PX, labelled in the reader's language."""
    with _DRAWING, matplotlib.rc_context({"font.family": FONT, "svg.fonttype": "none"}):
        figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True)
        days = range(len(history.days))
        for index, topic in enumerate(city.topics):
            line = [math.nan if n is None else n for n in history.subscribers.get(topic.id, [])]
            top.plot(
                days,
                line,
                color=colour_for(city.chart_colours, index),
                linewidth=2,
                label=topic.name.get(language),
            )
        top.set_title(texts(language, "chart_subscribers"), loc="left")
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
        first, second = colour_for(city.chart_colours, 0), colour_for(city.chart_colours, 1)
        bottom.bar(days, history.delivered, color=first, label=texts(language, "chart_delivered"))
        bottom.bar(
            days,
            history.undelivered,
            bottom=history.delivered,
            color=second,
            label=texts(language, "chart_undelivered"),
        )
        bottom.set_title(texts(language, "chart_deliveries"), loc="left")
        bottom.legend(loc="upper left", fontsize="small", ncols=2, frameon=False)
        german = FuncFormatter(lambda value, _: f"{int(value):,}".replace(",", "."))
        for axes in (top, bottom):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.yaxis.set_major_formatter(german)
            axes.set_ylim(bottom=0)
            axes.spines[["top", "right"]].set_visible(False)
            axes.grid(axis="y", color="#dde3ea")
        step = max(1, len(history.days) // 10)
        ticks = list(days)[::-step][::-1]  # counted back from today, so today always has its date
        bottom.set_xticks(ticks, [history.days[n].strftime("%d.%m.") for n in ticks])
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI)
        return out.getvalue()
