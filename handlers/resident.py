"""What residents can do: consent, topics, FAQ, language, privacy, export and erasure."""

from __future__ import annotations

import json
from datetime import datetime

from broadcasts.audit import RESIDENT, Action, Entry, Via
from city.values import Channel
from handlers import words
from handlers.consent import consent_prompt
from handlers.delivery import delivery_buttons, latest_items, mode_text
from handlers.matching import find_faq, find_topic, normalize
from handlers.router import Context, Router
from handlers.staff_common import staff_member
from handlers.staff_help import staff_help
from handlers.texts import pick_language
from handlers.values import Attachment, Button, Reply

router = Router()

YES = frozenset({"ja", "yes", "j", "y"})
ALL = frozenset({"alle", "all"})


# Commands that use a resident's data further; after the privacy notice changed they ask for consent
# again first. Leaving, export, erasure, help and the notice itself stay open.
NEEDS_CURRENT_CONSENT = frozenset({"start", "themen", "topics", "abo", "subscribe", "zustellung", "delivery"})


def topic_menu(ctx: Context, header: str, *, subscribed: frozenset[str], replace: bool = False) -> Reply:
    lines = [header, ""]
    rows: list[tuple[Button, ...]] = []
    for topic in ctx.city.topics:
        name = topic.name.get(ctx.language)
        on = topic.id in subscribed
        mark = "✅" if on else "▫️"
        lines.append(
            ctx.t("topic_line", mark=mark, name=name, description=topic.description.get(ctx.language))
        )
        command = f"/abbestellen {topic.id}" if on else f"/abo {topic.id}"
        rows.append((Button(f"{mark} {name}", command),))
    return Reply("\n".join(lines), buttons=tuple(rows), replace=replace)


@router.command("start")
async def start(ctx: Context) -> list[Reply]:
    """A welcome and the privacy notice with a consent button; returning residents see their topics."""
    if ctx.record is None:
        return consent_prompt(ctx)
    return [topic_menu(ctx, ctx.t("welcome_back", city=ctx.city.name), subscribed=ctx.record.topics)]


@router.command("zustimmen", "agree")
async def agree(ctx: Context) -> list[Reply]:
    """Records consent (time and notice version) and offers the topic menu."""
    version = ctx.city.privacy.version
    if ctx.record is not None and ctx.record.consent_version != version:
        await ctx.services.residents.consent(
            ctx.resident, language=ctx.record.language, version=version, at=ctx.services.clock()
        )
        return [Reply(ctx.t("consent_renewed", version=version))]
    if ctx.record is not None:
        return [topic_menu(ctx, ctx.t("consent_already"), subscribed=ctx.record.topics)]
    language = pick_language(ctx.args) or ctx.language
    await ctx.services.residents.consent(
        ctx.resident, language=language, version=ctx.city.privacy.version, at=ctx.services.clock()
    )
    ctx = _with_language(ctx, language)
    return [topic_menu(ctx, ctx.t("consent_thanks"), subscribed=frozenset())]


@router.command("themen", "topics")
async def topics(ctx: Context) -> list[Reply]:
    """Every topic with the resident's state and a toggle button for each."""
    if ctx.record is None:
        return consent_prompt(ctx, greeting=False)
    return [
        topic_menu(ctx, ctx.t("topics_header"), subscribed=ctx.record.topics, replace=ctx.inbound.is_button)
    ]


@router.command("abo", "subscribe")
async def subscribe(ctx: Context) -> list[Reply]:
    """Subscribes to one topic, named by id or by German or English name."""
    if ctx.record is None:
        return consent_prompt(ctx, greeting=False)
    if not ctx.args:
        return [Reply(ctx.t("topic_missing", example=ctx.city.topics[0].id))]
    topic = find_topic(ctx.city, ctx.args)
    if topic is None:
        return [_unknown_topic(ctx)]
    added = await ctx.services.residents.subscribe(ctx.record, topic.id, ctx.services.clock())
    latest = await latest_items(ctx, topic) if added else []
    if ctx.inbound.is_button:
        menu = topic_menu(
            ctx, ctx.t("topics_header"), subscribed=ctx.record.topics | {topic.id}, replace=True
        )
        return [menu, *latest]
    if not added:
        return [Reply(ctx.t("already_subscribed", topic=topic.name.get(ctx.language)))]
    text = ctx.t("subscribed", topic=topic.name.get(ctx.language), mode=mode_text(ctx, ctx.record))
    return [Reply(text, buttons=delivery_buttons(ctx)), *latest]


@router.command("abbestellen", "unsubscribe")
async def unsubscribe(ctx: Context) -> list[Reply]:
    """Unsubscribes from one topic; without a topic, from all of them after a confirmation."""
    if ctx.record is None:
        return [Reply(ctx.t("unsubscribe_all_none"))]
    argument = normalize(ctx.args)
    if not ctx.args or argument in ALL:
        if not ctx.record.topics:
            return [Reply(ctx.t("unsubscribe_all_none"))]
        return [
            Reply(
                ctx.t("unsubscribe_all_confirm", count=len(ctx.record.topics)),
                buttons=(
                    (Button(ctx.t("button_yes_unsubscribe_all"), "/abbestellen ja"),),
                    (Button(ctx.t("button_cancel"), "/themen"),),
                ),
            )
        ]
    if argument in YES:
        await ctx.services.residents.unsubscribe(ctx.record, ctx.record.topics, ctx.services.clock())
        return [Reply(ctx.t("unsubscribed_all"), replace=ctx.inbound.is_button)]
    topic = find_topic(ctx.city, ctx.args)
    if topic is None:
        return [_unknown_topic(ctx)]
    removed = await ctx.services.residents.unsubscribe(ctx.record, [topic.id], ctx.services.clock())
    if ctx.inbound.is_button:
        return [
            topic_menu(ctx, ctx.t("topics_header"), subscribed=ctx.record.topics - {topic.id}, replace=True)
        ]
    key = "unsubscribed" if removed else "not_subscribed"
    return [Reply(ctx.t(key, topic=topic.name.get(ctx.language)))]


@router.command("stop")
async def stop(ctx: Context) -> list[Reply]:
    """Unsubscribes from every topic at once, without asking: WhatsApp's opt-out convention."""
    if ctx.record is None or not ctx.record.topics:
        return [Reply(ctx.t("unsubscribe_all_none"))]
    await ctx.services.residents.unsubscribe(ctx.record, ctx.record.topics, ctx.services.clock())
    return [Reply(ctx.t("unsubscribed_all"))]


@router.command("hilfe", "help")
async def help_(ctx: Context) -> list[Reply]:
    """Every resident command in a short list; on WhatsApp as the words to send. Staff also get the desk
    commands their roles allow, in the language their answers follow."""
    member = staff_member(ctx)
    replies = [Reply(ctx.t("help_whatsapp" if ctx.inbound.channel is Channel.WHATSAPP else "help"))]
    return replies if member is None else [*replies, staff_help(ctx, member)]


@router.command("faq")
async def faq(ctx: Context) -> list[Reply]:
    """The list of questions, or the answer that best matches a number or keyword."""
    entries = ctx.city.faq
    if not entries:
        return [Reply(ctx.t("faq_empty", city=ctx.city.name))]
    query = ctx.args.strip()
    if not query:
        lines = [ctx.t("faq_list"), ""]
        lines += [f"{n}. {entry.question.get(ctx.language)}" for n, entry in enumerate(entries, 1)]
        buttons = tuple(
            (Button(f"{n}. {e.question.get(ctx.language)}"[:60], f"/faq {n}"),)
            for n, e in enumerate(entries, 1)
        )
        return [Reply("\n".join(lines), buttons=buttons)]
    entry = (
        entries[int(query) - 1]
        if query.isdecimal() and 0 < int(query) <= len(entries)
        else find_faq(ctx.city, query)
    )
    if entry is None:
        return [Reply(ctx.t("faq_no_match", contact=_contact(ctx)))]
    return [
        Reply(
            ctx.t(
                "faq_answer", question=entry.question.get(ctx.language), answer=entry.answer.get(ctx.language)
            )
        )
    ]


@router.command("datenschutz", "privacy")
async def privacy(ctx: Context) -> list[Reply]:
    """The privacy notice, the netiquette, the contact and the city's other channels."""
    city = ctx.city
    channels = [f"• {channel.name.get(ctx.language)}: {channel.url}" for channel in city.alternative_channels]
    return [
        Reply(ctx.t("privacy", version=city.privacy.version, notice=city.privacy.notice.get(ctx.language))),
        Reply(
            "\n\n".join(
                [
                    ctx.t("netiquette", netiquette=city.netiquette.get(ctx.language)),
                    "\n".join([ctx.t("alternatives"), *channels]) if channels else "",
                    ctx.t("contact", contact=_contact(ctx)),
                ]
            ).replace("\n\n\n\n", "\n\n")
        ),
    ]


@router.command("meinedaten", "mydata")
async def my_data(ctx: Context) -> list[Reply]:
    """Everything stored about the resident, readable and as a JSON file; writes nothing."""
    exported = await ctx.services.residents.export(ctx.resident)
    if exported is None or ctx.record is None:
        return [Reply(ctx.t("mydata_none"))]
    record = ctx.record
    names = [_topic_name(ctx, topic_id) for topic_id in sorted(record.topics)]
    text = ctx.t(
        "mydata",
        messenger=words.messenger_name(record.resident.channel),
        chat_id=record.resident.chat_id,
        language=words.language_name(ctx.services.texts, ctx.language, record.language),
        consents="; ".join(
            ctx.t("mydata_consent", version=given.version, at=_local(ctx, given.at))
            for given in record.consents
        ),
        topics=", ".join(names) or ctx.t("none"),
        delivery=(
            ctx.t("delivery_daily", time=f"{ctx.city.digest_time:%H:%M}")
            if record.daily
            else ctx.t("delivery_now")
        ),
        inactive=_local(ctx, record.inactive_since) if record.inactive_since else ctx.t("never"),
    )
    document = json.dumps(exported, ensure_ascii=False, indent=2).encode()
    await _audit(ctx, Action.EXPORT)
    return [Reply(text, attachment=Attachment("stadtfunk-meine-daten.json", document, "application/json"))]


@router.command("loeschen", "delete")
async def delete(ctx: Context) -> list[Reply]:
    """Erases everything about the resident after a confirmation."""
    if ctx.record is None:
        return [Reply(ctx.t("delete_none"))]
    if normalize(ctx.args) not in YES:
        return [
            Reply(
                ctx.t("delete_confirm"),
                buttons=(
                    (Button(ctx.t("button_yes_delete"), "/loeschen ja"),),
                    (Button(ctx.t("button_cancel"), "/hilfe"),),
                ),
            )
        ]
    await ctx.services.residents.erase(ctx.resident, (topic.id for topic in ctx.city.topics))
    await _audit(ctx, Action.ERASURE)
    return [Reply(ctx.t("deleted"), replace=ctx.inbound.is_button)]


@router.command("sprache", "language")
async def language(ctx: Context) -> list[Reply]:
    """Switches between German and English; before consent it only changes the welcome's language."""
    chosen = pick_language(ctx.args)
    if chosen is None:
        buttons = ((Button("Deutsch", "/sprache de"), Button("English", "/sprache en")),)
        return [Reply(ctx.t("language_choose"), buttons=buttons)]
    ctx = _with_language(ctx, chosen)
    if ctx.record is None:
        # Nothing may be stored before consent, so the choice travels in the consent button instead.
        return consent_prompt(ctx)
    await ctx.services.residents.set_language(ctx.resident, chosen)
    return [Reply(ctx.t("language_set"))]


async def _audit(ctx: Context, action: Action) -> None:
    """A data-protection request is logged as having happened, from which messenger, never for whom."""
    entry = Entry(ctx.services.clock(), RESIDENT, action, via=Via(ctx.inbound.channel.name.lower()))
    await ctx.services.audit.record(entry)


def _with_language(ctx: Context, language: str) -> Context:
    return Context(ctx.inbound, ctx.command, ctx.args, language, ctx.record, ctx.services)


def _local(ctx: Context, at: datetime) -> str:
    return at.astimezone(ctx.city.tz).strftime("%d.%m.%Y %H:%M")


def _unknown_topic(ctx: Context) -> Reply:
    names = ", ".join(f"{t.name.get(ctx.language)} ({t.id})" for t in ctx.city.topics)
    return Reply(ctx.t("unknown_topic", query=ctx.args.strip()[:60], topics=names))


def _topic_name(ctx: Context, topic_id: str) -> str:
    topic = ctx.city.topic(topic_id)
    return topic.name.get(ctx.language) if topic else topic_id


def _contact(ctx: Context) -> str:
    contact = ctx.city.contact
    details = [d for d in (contact.email, contact.phone, contact.website) if d]
    return ", ".join([contact.name.get(ctx.language), *details])
