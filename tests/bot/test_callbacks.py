"""Signed inline-button data (R36: every notice on the messenger carries its replies)."""

from __future__ import annotations

import pytest

from bot.callbacks import ACTIONS, Press, buttons_for, row_buttons, signed, verify
from models import OutboundMessage

SECRET = "s3cret"


def test_r36_buttons_offer_every_reply_of_the_grammar() -> None:
    rows = buttons_for("D17", SECRET)

    assert [[b.text for b in row] for row in rows] == [["收到", "报进展"], ["申请延期", "申请办结"]]
    assert [verify(b.data, SECRET) for row in rows for b in row] == [
        Press(action, "D17") for action in ACTIONS]


def test_data_fits_telegrams_64_bytes_for_the_longest_code() -> None:
    data = signed("c", "ABC1234567890123", SECRET)

    assert len(data.encode()) <= 64  # Telegram's limit for callback data
    assert verify(data, SECRET) == Press("c", "ABC1234567890123")


@pytest.mark.parametrize("data", [
    signed("a", "D17", "another-secret"),
    signed("a", "D17", SECRET)[:-1] + "x",
    signed("a", "D17", SECRET).replace("D17", "D18"),
    signed("a", "D17", SECRET).replace("a:", "c:", 1),
    "a:D17",
    "",
    None,
    "a:D17:" + "A" * 8 + ":extra",
])
def test_forged_or_malformed_data_does_not_verify(data: str | None) -> None:
    assert verify(data, SECRET) is None


def test_no_button_for_a_code_outside_the_format() -> None:
    with pytest.raises(ValueError):
        signed("a", "D:17", SECRET)


@pytest.mark.parametrize("kind, with_buttons", [
    ("assigned", True), ("remind", True), ("urge", True), ("supervise", True),
    ("report_due", True), ("returned", True),
    ("reply", False), ("feedback", False), ("escalate", False), ("closed", False),
])
def test_r36_dispatcher_hook_puts_buttons_on_notices_that_ask_for_a_reply(
        kind: str, with_buttons: bool) -> None:
    row = OutboundMessage(kind=kind, channel="telegram", address="2002",
                          context={"code": "D17"})

    assert row_buttons(SECRET)(row) == (buttons_for("D17", SECRET) if with_buttons else ())


def test_dispatcher_hook_gives_no_buttons_without_a_matter() -> None:
    row = OutboundMessage(kind="remind", channel="telegram", address="2002", context={})

    assert row_buttons(SECRET)(row) == ()
