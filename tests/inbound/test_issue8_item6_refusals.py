"""Issue 8 item 6: a refusal to a person of another unit names the matter by its code only —
never its title (nor its units or state). The matter's own units still see the title."""

from __future__ import annotations

import pytest

from tests.inbound.conftest import OPERATOR, OTHER_UNIT, answer_text, new_matter, send

TITLE = "清理辖区河道垃圾"


@pytest.mark.parametrize("text", ["D17 进展 已清理", "D17 收到", "D17 办结 已完成",
                                  "D17 延期 12月20日 原因 计划", "同意 D17", "退回 D17 不全",
                                  "评定 D17 优秀"])
async def test_issue8_item6_refusal_to_another_unit_shows_only_the_code(org, ctx, inbox, text):
    """Issue 8 item 6: every refusal template, answered to another unit, omits the title."""
    await new_matter(ctx, "D17", title=TITLE)
    row = await send(inbox, text, sender=OTHER_UNIT)
    assert row.status == "refused"
    answer = await answer_text(row)
    assert "D17" in answer
    for secret in ("河道", "区水务局", "区政府督查室"):
        assert secret not in answer, answer


async def test_issue8_item6_closed_state_is_not_revealed_to_another_unit(org, ctx, inbox):
    await new_matter(ctx, "D17", title=TITLE)
    await send(inbox, "D17 办结 已完成")
    await send(inbox, "评定 D17 合格", sender="13900000001")
    await send(inbox, "同意 D17", sender="13900000001")
    row = await send(inbox, "D17 进展 又一处", sender=OTHER_UNIT)
    assert row.outcome == "refused not_your_matter D17"
    assert "已办结" not in await answer_text(row)


async def test_issue8_item6_the_own_unit_still_sees_the_title(org, ctx, inbox):
    await new_matter(ctx, "D17", title=TITLE)
    row = await send(inbox, "同意 D17", sender=OPERATOR)
    assert "清理辖区河道" in await answer_text(row)
