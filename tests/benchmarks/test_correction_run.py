"""The corrections benchmark on a small audience: a correction reaches everyone again within the limits."""

from __future__ import annotations

from benchmarks.correction_run import bytes_per_delivery, timed
from benchmarks.report_corrections import render_corrections
from city.values import Channel


async def test_on_telegram_a_correction_is_an_edit_and_a_note_per_recipient_at_the_limit(
    single_redis_url: str,
) -> None:
    run = await timed(60, single_redis_url, Channel.TELEGRAM)
    # The sender sends together what its grant reserved within 1 ms: rarely, one meets a chat's 1 s early.
    assert run["refused"] <= 2
    assert run["correction_sends"] == 120
    assert 1.9 <= run["ratio"] <= 2.2, "twice the calls at the same 30/s"
    assert run["original_s"] >= 60 / 30 - 0.1


async def test_the_report_states_both_times_and_the_bytes_per_delivery(single_redis_url: str) -> None:
    sizes = await bytes_per_delivery(single_redis_url, 500)
    assert 10 < sizes["tg"] < sizes["wa"] < 400
    outcome = {
        "telegram": {"recipients": 10_000, "limit_per_s": 30.0, "original_s": 333.4, "correction_s": 667.1,
                     "ratio": 2.0, "refused": 0},
        "whatsapp": {"recipients": 10_000, "limit_per_s": 80.0, "original_s": 125.0, "correction_s": 125.2,
                     "ratio": 1.0, "refused": 0},
        "bytes_per_delivery": sizes,
        "memory_deliveries": 500,
    }  # fmt: skip
    text = render_corrections(outcome)
    assert "| Telegram | 10,000 | 30 | 333.4 | 667.1 | 2.00× | an edit and a note per recipient | 0 |" in text
    assert f"Telegram {sizes['tg']:.0f}, WhatsApp {sizes['wa']:.0f}" in text
