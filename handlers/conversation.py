"""The one conversation core every messenger shares: an inbound value in, reply values out."""

from __future__ import annotations

import logging

from city.values import Channel, Resident, ResidentRecord
from handlers import (
    delivery,
    gate,
    resident,
    staff_decisions,
    staff_drafting,
    staff_feeds,
    staff_reports,
)
from handlers.consent import consent_prompt
from handlers.matching import find_faq, normalize
from handlers.router import Context, Router, Services
from handlers.staff_common import staff_member
from handlers.texts import DEFAULT_LANGUAGE, pick_language
from handlers.values import Inbound, Reply

log = logging.getLogger(__name__)

# Longer than any command a person types; longer input is answered without being looked at.
MAX_INPUT_CHARS = 4096
# WhatsApp has no slash commands: "ABO verkehr" is a command there.
SLASHLESS_CHANNELS = frozenset({Channel.WHATSAPP})


def build_router() -> Router:
    router = Router()
    router.include(resident.router)
    router.include(delivery.router)
    router.include(staff_drafting.router)
    router.include(staff_decisions.router)
    router.include(staff_reports.router)
    router.include(staff_feeds.router)
    return router


class Conversation:
    def __init__(self, router: Router, services: Services) -> None:
        self._router = router
        self._services = services

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Answer one inbound message; never raises for anything a person can send."""
        record: ResidentRecord | None = None
        try:
            record = await self._services.residents.get(Resident(inbound.channel, inbound.chat_id))
            if record is not None and record.inactive_since is not None:
                record = await self._services.residents.reactivate(record)
            return await self._dispatch(inbound, record)
        except Exception as exc:
            # The exception text may quote what the person wrote; log only its kind.
            log.error("conversation failed: %s", type(exc).__name__)
            return [Reply(self._services.texts(self._language(inbound, record), "error"))]

    def is_staff(self, inbound: Inbound) -> bool:
        """Whether the sender is staff in the city file (staff are exempt from the flood budget)."""
        return staff_member(Context(inbound, "", "", DEFAULT_LANGUAGE, None, self._services)) is not None

    async def flood_notice(self, inbound: Inbound, seconds: float) -> list[Reply]:
        """The one notice a chat gets when it writes faster than the city's flood budget."""
        try:
            record = await self._services.residents.get(Resident(inbound.channel, inbound.chat_id))
        except Exception as exc:
            log.error("conversation failed: %s", type(exc).__name__)
            record = None
        return [Reply(self._services.texts(self._language(inbound, record), "flood_notice",
                                           seconds=round(seconds)))]  # fmt: skip

    async def _dispatch(self, inbound: Inbound, record: ResidentRecord | None) -> list[Reply]:
        language = self._language(inbound, record)
        early = gate.ahead(Context(inbound, "", "", language, record, self._services))
        if early is not None:
            return early
        text = inbound.text.strip()
        if len(text) > MAX_INPUT_CHARS:
            slashless = inbound.channel in SLASHLESS_CHANNELS
            return [Reply(self._services.texts(language, "too_long_whatsapp" if slashless else "too_long"))]
        name, args = self._parse(inbound, text)
        handler = self._router.find(name) if name else None
        ctx = Context(inbound, name or "", args, language, record, self._services)
        if handler is not None:
            version = self._services.city().privacy.version
            if (
                record is not None
                and record.consent_version != version
                and name in resident.NEEDS_CURRENT_CONSENT
            ):
                return consent_prompt(ctx, intro=ctx.t("consent_changed", version=version))
            return await handler(ctx)
        if name is None and text and not inbound.is_button:
            edited = await staff_drafting.pending_edit(ctx)
            if edited is not None:
                return edited
            entry = find_faq(self._services.city(), text)
            if entry is not None:
                answer = ctx.t(
                    "faq_answer", question=entry.question.get(language), answer=entry.answer.get(language)
                )
                # The answer stands alone: a hint after a matched question reads as "not understood".
                return [Reply(answer)]
        return [Reply(ctx.not_understood())]

    def _parse(self, inbound: Inbound, text: str) -> tuple[str | None, str]:
        """Split "/abo@stadtfunk_bot Verkehr" into ("abo", "Verkehr"); None when it is no command."""
        head, _, args = text.partition(" ")
        if head.startswith("/"):
            return normalize(head[1:].split("@", 1)[0]).replace(" ", ""), args.strip()
        if inbound.channel in SLASHLESS_CHANNELS or inbound.is_button:
            name = normalize(head).replace(" ", "")
            if self._router.find(name) is not None:
                return name, args.strip()
        return None, text

    def _language(self, inbound: Inbound, record: ResidentRecord | None) -> str:
        if record is not None:
            return record.language
        return pick_language(inbound.language_hint) or DEFAULT_LANGUAGE
