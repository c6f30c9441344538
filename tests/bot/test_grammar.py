"""The boundary contract: what buttons and dialogs compose is what the reply parser reads,
and long answers are split the way Telegram accepts them."""

from __future__ import annotations

from datetime import date

import pytest

from bot.texts import chunks, say
from replies.parser import Intent, IntentKind, parse_reply
from tests.bot.conftest import NOW


@pytest.mark.parametrize("text, expected", [
    (say("commands", "ack", code="D17"), Intent(IntentKind.ACKNOWLEDGE, "D17")),
    (say("commands", "progress", code="D17", text="已完成排查"),
     Intent(IntentKind.PROGRESS, "D17", text="已完成排查")),
    (say("commands", "completion", code="K3", text="已全部完成"),
     Intent(IntentKind.COMPLETION, "K3", text="已全部完成")),
    (say("commands", "list"), Intent(IntentKind.LIST)),
    (say("commands", "help"), Intent(IntentKind.HELP)),
])
def test_r36_composed_replies_parse_as_meant(text: str, expected: Intent) -> None:
    assert parse_reply(text, now=NOW) == expected


def test_r17_composed_extension_carries_date_reason_and_plan() -> None:
    text = say("commands", "extension", code="D17", day="2026-12-31",
               reason="需协调占道审批", plan="12月15日前张科长完成")

    intent = parse_reply(text, now=NOW)

    assert (intent.kind, intent.matter_code) == (IntentKind.EXTENSION, "D17")
    assert intent.new_deadline == date(2026, 12, 31)
    assert "需协调占道审批" in intent.text and "12月15日前张科长完成" in intent.text


@pytest.mark.parametrize("text", ["/approve D17", "/return D17 材料不全", "/grade D17 优秀"])
def test_supervisor_commands_pass_as_the_parser_reads_them(text: str) -> None:
    assert parse_reply(text, now=NOW).matter_code == "D17"


def test_long_answers_are_split_at_line_ends() -> None:
    text = "\n".join(f"{i:04d} " + "字" * 40 for i in range(300))

    pieces = chunks(text)

    assert all(len(p) <= 4096 for p in pieces) and len(pieces) > 1
    assert "\n".join(pieces) == text


def test_an_overlong_line_is_cut() -> None:
    assert [len(p) for p in chunks("x" * 9000)] == [4096, 4096, 808]
