"""What everyone sees before agreeing: the welcome with the city's topics, the consent question and
buttons to agree, to read the privacy notice (one tap away, not a wall of text) and to switch language."""

from __future__ import annotations

from handlers.router import Context
from handlers.values import Button, Reply


def consent_prompt(ctx: Context, *, greeting: bool = True, intro: str | None = None) -> list[Reply]:
    """The welcome, the consent question and its buttons: what everyone sees before agreeing."""
    city = ctx.city
    other = "en" if ctx.language == "de" else "de"
    topics = ", ".join(topic.name.get(ctx.language) for topic in city.topics)
    parts = [ctx.t("welcome", city=city.name, topics=topics)] if greeting else [ctx.t("consent_needed")]
    if intro is not None:
        parts = [intro]
    english = ctx.language == "en"
    question = ctx.t(
        "consent_question",
        version=city.privacy.version,
        privacy=ctx.typed("privacy" if english else "datenschutz"),
        delete=ctx.typed("delete" if english else "loeschen"),
    )
    buttons = (
        (Button(ctx.t("button_agree"), f"/zustimmen {ctx.language}"),),
        (Button(ctx.t("button_privacy"), "/datenschutz"),),
        (Button(ctx.t("button_other_language"), f"/sprache {other}"),),
    )
    return [Reply("\n\n".join([*parts, question]), buttons=buttons)]
