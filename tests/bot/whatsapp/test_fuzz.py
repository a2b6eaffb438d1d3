"""Fuzzing the webhook: whatever a body holds, the answer is never a 500 and processing never fails."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bot.whatsapp.conftest import NUMBER_ID, RESIDENT, Webhook, Write
from tests.fakes import whatsapp_webhooks as wh
from tests.fakes.graph_api import FakeGraph

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["text", "interactive", "button", "reaction", "image", "statuses", "failed", RESIDENT]),
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KINDS = st.sampled_from(
    [
        "text",
        "interactive",
        "button",
        "reaction",
        "image",
        "location",
        "contacts",
        "unsupported",
        "system",
        "x",
    ]
)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """Meta's message shape with any field possibly missing, mistyped or strange."""
    kind = draw(KINDS)
    found: dict[str, Any] = {
        "from": draw(st.one_of(st.just(RESIDENT), st.text(max_size=20), ANY_JSON)),
        "id": draw(st.one_of(st.just(wh.wamid()), st.text(max_size=300), ANY_JSON)),
        "timestamp": draw(st.one_of(st.just("1795424400"), st.text(max_size=30), ANY_JSON)),
        "type": kind,
    }
    found[kind] = draw(
        st.one_of(
            ANY_JSON,
            st.fixed_dictionaries({"body": st.text(max_size=5000)}),
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["button_reply", "list_reply"]),
                    "button_reply": ANY_JSON,
                    "list_reply": ANY_JSON,
                }
            ),
        )
    )
    for key in draw(st.lists(st.sampled_from(sorted(found)), max_size=2)):
        found.pop(key, None)
    return found


@st.composite
def statuses(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": draw(st.one_of(st.just(wh.wamid()), ANY_JSON)),
        "status": draw(st.one_of(st.sampled_from(["sent", "delivered", "read", "failed"]), ANY_JSON)),
        "recipient_id": draw(st.one_of(st.just(RESIDENT), ANY_JSON)),
        "biz_opaque_callback_data": draw(st.one_of(st.just("1"), st.text(max_size=20), ANY_JSON)),
        "errors": draw(st.one_of(st.lists(st.fixed_dictionaries({"code": ANY_JSON})), ANY_JSON)),
    }


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    value: dict[str, Any] = {
        "messages": draw(st.one_of(st.lists(messages(), max_size=3), ANY_JSON)),
        "statuses": draw(st.one_of(st.lists(statuses(), max_size=3), ANY_JSON)),
        "contacts": draw(st.one_of(st.just([wh.contact(RESIDENT, user_id="DE.1")]), ANY_JSON)),
        "errors": draw(st.one_of(st.lists(ANY_JSON, max_size=2), ANY_JSON)),
    }
    body: Any = wh.notification(NUMBER_ID, **value)
    if draw(st.booleans()):
        body["entry"][0]["changes"][0]["value"]["metadata"] = draw(ANY_JSON)
    return draw(st.one_of(st.just(body), ANY_JSON))


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=bodies())
async def test_signed_fuzzed_bodies_never_get_a_500_nor_break_processing(
    body: Any, webhook: Webhook, graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    graph.inbound(RESIDENT)
    status = await webhook.post_raw(wh.encode(body))
    assert status in (200, 400)
    await webhook.settled()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@FUZZ
@given(raw=st.binary(max_size=2000), signed=st.booleans())
async def test_raw_bytes_signed_or_not_never_get_a_500(raw: bytes, signed: bool, webhook: Webhook) -> None:
    status = await webhook.post_raw(raw, signature="sign" if signed else "sha256=00")
    assert status in ((200, 400) if signed else (403,))
    await webhook.settled()


async def test_after_fuzzing_a_resident_is_still_answered(webhook: Webhook, write: Write) -> None:
    for junk in (b"{}", b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{}]}}]}]}'):
        assert await webhook.post_raw(junk) == 200
    assert "THEMEN" in (await write("HILFE"))[0]
