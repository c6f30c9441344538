"""Every answer renders, names its matter, says how to reply (R36), and can never be taken
for a command itself: a phone's auto-reply echoing it must not act or loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.render import Renderer
from replies.parser import ERROR_CODES, ParseError, parse_reply

RENDERER = Renderer(sms_signature="【督办】")
MATTER = {
    "code": "D17",
    "title": "清理辖区河道垃圾及沿岸违建",
    "board": "daily",
    "board_name": "日常管理",
    "lead": "区水务局",
    "initiator": "区政府督查室",
    "state": "in_progress",
    "deadline": "",
    "number": 2,
    "due": {"node": "3d", "overdue": False, "at": "11-26 09:00"},
}
ITEM = {
    "code": "D17",
    "number": 1,
    "title": "清理辖区河道垃圾",
    "state": "acknowledged",
    "due": {"node": "7d", "overdue": True, "at": "11-30 09:00"},
}
ITEM2 = {"code": "D18", "number": 2, "title": "整治背街小巷照明", "state": "assigned", "due": None}
REFUSALS = [
    "matter_closed",
    "not_your_matter",
    "extension_too_late",
    "extension_not_later",
    "application_pending",
    "not_supervisor",
    "nothing_to_approve",
    "nothing_to_return",
    "nothing_to_grade",
    "bad_grade",
    "illegal_transition",
    "consent_missing",
    "verification_missing",
    "no_service_object",
    "not_visible",
    "some_future_code",
]

# (template, context, names the matter D17)
CASES = [
    ("acknowledged", MATTER, True),
    ("acknowledged", MATTER | {"due": None, "number": None}, True),
    ("acknowledged", MATTER | {"due": ITEM["due"]}, True),
    ("acknowledged", MATTER | {"report": "已走访三户，剩余两户本周走访"}, True),
    ("progress_recorded", MATTER, True),
    ("progress_recorded", MATTER | {"text": "完成了大半", "not_completion": True}, True),
    ("did_you_mean", {"detail": "D17 收到"}, True),
    ("nothing_to_confirm", {}, False),
    ("extension_requested", MATTER | {"new_deadline": "2026-12-20"}, True),
    ("completion_requested", MATTER, True),
    *[
        ("consent_recorded", MATTER | {"agreed": a, "refusals": n, "service_object": "沿河居民"}, True)
        for a, n in ((True, 0), (False, 1), (False, 3))
    ],
    ("extension_approved", MATTER, True),
    *[("approved", MATTER | {"what": w}, True) for w in ("extension", "reviewed", "closed")],
    *[("return_done", MATTER | {"what": w}, True) for w in ("completion", "extension", "report")],
    *[("graded", MATTER | {"grade": g}, True) for g in ("优秀", "良好", "合格", "不合格")],
    *[
        (
            "refused",
            MATTER
            | {
                "refusal": r,
                "params": {"deadline": "2026-11-30 09:00", "state": "closed", "event": "report",
                           "service_object": "沿河居民", "attempts": 2},
            },
            True,
        )
        for r in REFUSALS
    ],
    ("refused", MATTER | {"refusal": "extension_too_late", "params": {}}, True),
    ("acknowledged_all", {"acked": [ITEM, ITEM2], "skipped": []}, True),
    ("acknowledged_all", {"acked": [ITEM], "skipped": [ITEM2 | {"refusal": "x"}]}, True),
    ("acknowledged_all", {"acked": [], "skipped": []}, False),
    ("acknowledged_all", {"acked": [], "skipped": [ITEM | {"refusal": "x"}]}, True),
    ("matter_list", {"matters": [], "total": 0, "supervised": [], "supervised_total": 0}, False),
    (
        "matter_list",
        {"matters": [ITEM, ITEM2], "total": 12, "supervised": [], "supervised_total": 0},
        True,
    ),
    (
        "matter_list",
        {
            "matters": [],
            "total": 0,
            "supervised_total": 3,
            "supervised": [
                {"code": "D17", "title": "清理", "pending": "completion"},
                {"code": "D19", "title": "照明", "pending": None},
            ],
        },
        True,
    ),
    (
        "matter_list",
        {
            "matters": [ITEM],
            "total": 1,
            "supervised_total": 1,
            "supervised": [{"code": "D19", "title": "照明", "pending": "extension"}],
        },
        True,
    ),
    *[("help", {"supervisor": s, "example": "D17"}, True) for s in (True, False)],
    *[
        ("matter_view", MATTER | {"nodes_done": done, "open_nodes": nodes, "entries": entries},
         True)
        for done, nodes, entries in (
            (0, [], []),
            (2, [{"node": "7d", "at": "11-30 09:00", "overdue": True},
                 {"node": "M2026-12", "at": "12-31 18:00", "overdue": False}],
             [{"at": "11-23 09:00", "who": "系统", "kind": "audit", "what": "register",
               "state": "assigned"},
              {"at": "11-25 10:00", "who": "李一", "kind": "application", "what": "extension",
               "state": "pending"}]),
            (1, [], [{"at": "11-24 10:00", "who": "李一", "kind": "feedback", "what": "report",
                      "state": ""}]),
        )
    ],
    *[
        ("which_matter", {"problem": p, "given": g, "matters": m}, bool(m))
        for p, g in (
            ("several_open", ""),
            ("unknown_code", "D71"),
            ("unknown_number", "7"),
            ("no_open_matter", ""),
        )
        for m in ([ITEM, ITEM2], [])
        if m or p != "several_open"
    ],
    *[
        ("not_understood", {"error": e, "detail": "D17 好好", "example": "D17"}, True)
        for e in ERROR_CODES
    ],
    *[("not_registered", {}, False)],
    ("link_code", {"link_code": "ABCD2345", "valid_until": "11-24 09:00"}, False),
    ("incomplete", {}, False),
    ("internal_error", {}, False),
]


def rendered(template: str, context: dict, channel: str) -> str:
    return RENDERER.render(
        "reply", context | {"reason": template, "person": "李一", "channel": channel}
    )


@pytest.mark.parametrize(("template", "context", "names_code"), CASES)
@pytest.mark.parametrize("channel", ["sms", "telegram"])
def test_r36_answer_names_matter_and_how_to_reply(template, context, names_code, channel):
    text = rendered(template, context, channel)
    assert text and "{" not in text and "None" not in text
    if names_code:
        assert "D17" in text
    assert "回复" in text or "发送" in text


@pytest.mark.parametrize(("template", "context", "names_code"), CASES)
def test_r36_an_echoed_answer_is_never_a_command(template, context, names_code, clock):
    text = rendered(template, context, "sms")
    assert isinstance(parse_reply(text, now=clock.now()), ParseError), text


def test_every_answer_template_is_covered():
    folder = Path(__file__).parents[2] / "templates" / "replies"
    names = {p.stem for p in folder.glob("*.j2") if not p.stem.startswith("_")}
    assert names == {template for template, _, _ in CASES}
