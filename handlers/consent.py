"""What everyone sees before agreeing: the welcome, the privacy notice and the consent button."""

from __future__ import annotations

from handlers.router import Context
from handlers.values import Button, Reply


def consent_prompt(ctx: Context, *, greeting: bool = True, intro: str | None = None) -> list[Reply]:
    """The welcome, the privacy notice and the consent button: what everyone sees before agreeing."""
    city = ctx.city
    other = "en" if ctx.language == "de" else "de"
    parts = [ctx.t("welcome", city=city.name)] if greeting else [ctx.t("consent_needed")]
    if intro is not None:
        parts = [intro]
    parts += [city.privacy.notice.get(ctx.language), ctx.t("consent_question", version=city.privacy.version)]
    buttons = (
        (Button(ctx.t("button_agree"), f"/zustimmen {ctx.language}"),),
        (Button(ctx.t("button_other_language"), f"/sprache {other}"),),
    )
    return [Reply("\n\n".join(parts), buttons=buttons)]
