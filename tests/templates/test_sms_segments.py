"""Every SMS a template can produce fits three segments (UCS-2: 3 x 67 characters) with the
signature, even with the longest names we accept: a longer one is a template error.
Texts also name the matter code (R36)."""

from __future__ import annotations

import pytest

from dispatch.render import Renderer
from scheduler.policy import BOARD_NAMES, Board
from sms_gateway.text import count_segments
from tests.inbound.test_r36_templates import CASES as ANSWER_CASES

RENDERER = Renderer(sms_signature="【尧都区督办】")
LONG = "关于进一步加强全区城乡结合部河道垃圾清理和沿岸违法建筑拆除整治工作的通知要求落实事项"
WORST = {
    "code": "D1234", "title": LONG, "board": "daily", "board_name": BOARD_NAMES[Board.DAILY],
    "lead": "尧都区住房和城乡建设管理局", "initiator": "尧都区人民政府办公室督查室",
    "state": "in_progress", "deadline": "2026-12-31 18:00", "number": 19, "effect": "",
    "person": "欧阳小明", "channel": "sms", "sender": "欧阳小明",
    "sender_unit": "尧都区住房和城乡建设管理局", "body": LONG * 3, "new_deadline": "2026-12-31",
    "grade": "不合格", "what": "completion", "working_days": True,
    "first_due": "2026-12-31 18:00",
}
NODES = ["1d", "3d", "7d", "1m", "deadline", "ext", "W2026-11-26", "M2026-11", "Q2026-4"]
MESSAGE_CASES = [
    ("assigned", {"reason": r, "node": ""}) for r in ("", "ack_resend")
] + [
    ("remind", {"reason": r, "node": n}) for r in ("node", "unacknowledged") for n in NODES
] + [
    ("remind", {"reason": "year_end", "node": "", "matters": [
        {"code": f"D{i}", "title": LONG, "state": "assigned"} for i in range(1000, 1030)]}),
] + [
    ("urge", {"reason": r, "node": n}) for r in ("node", "report", "warning", "phone_call")
    for n in NODES
] + [
    ("supervise", {"reason": r, "node": n}) for r in ("node", "report") for n in NODES
] + [
    ("escalate", {"reason": r, "node": n}) for r in (
        "key_supervision", "ducha", "accountability", "report_overdue") for n in NODES
] + [
    ("report_due", {"reason": r, "node": n}) for r in ("weekly", "monthly", "quarterly")
    for n in NODES
] + [
    ("feedback", {"reason": r, "agreed": False}) for r in (
        "ack", "progress", "extension", "completion", "consent", "review_done")
] + [
    ("returned", {"reason": LONG, "what": w}) for w in ("completion", "extension", "report")
] + [("closed", {"grade": g}) for g in ("", "优秀")]


@pytest.mark.parametrize(("kind", "extra"), MESSAGE_CASES)
def test_r36_every_sms_fits_three_segments_and_names_the_matter(kind, extra):
    text = RENDERER.render(kind, WORST | extra)
    assert count_segments(text) <= 3, f"{len(text)} characters: {text}"
    assert "D1" in text  # the code, or the codes of the year-end list


@pytest.mark.parametrize(("template", "context", "names_code"), ANSWER_CASES)
def test_every_sms_answer_fits_three_segments(template, context, names_code):
    text = RENDERER.render("reply", context | {"reason": template, "person": "欧阳小明",
                                               "channel": "sms"})
    assert count_segments(text) <= 3, f"{len(text)} characters: {text}"
