"""Whatever a registered sender types: no exception, one answer (help and error answers stop
at the cap), and text that parses to nothing or to a question changes no matter, feedback or
application."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Application, AuditEntry, Feedback, Matter, ScoreEvent
from replies.inbound import NOISE_CAP, Inbox, is_noise
from replies.parser import ParseError, Question, parse_reply
from tests.conftest import truncate_all
from tests.inbound.conftest import answers, build_org, new_matter, send

any_char = st.characters(codec=None, exclude_categories=())  # surrogates and NUL included
TOKENS = [
    "D17", "d18", "【D17】", "D99", "1", "2", "7", "号", "、", "：", " ", "收到", "好的", "全部收到",
    "进展", "延期", "办结", "已完成", "列表", "帮助", "?", "/approve", "同意", "退回", "评定",
    "优秀", "12月31日", "2月30日", "下周五", "——李一", "。", "\x00", "\ud800", "😀", "手到", "是",
    "没", "腊月", "下月",
]  # fmt: skip
token_soup = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(any_char, max_size=3)), max_size=10
).map("".join)
replies = st.one_of(st.text(any_char, max_size=60), token_soup)


async def snapshot() -> tuple:
    return (
        await Matter.all().order_by("id").values_list("code", "state"),
        await Feedback.all().count(),
        await Application.all().order_by("id").values_list("id", "status", "grade"),
        await AuditEntry.all().count(),
        await ScoreEvent.all().count(),
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(texts=st.lists(replies, min_size=1, max_size=NOISE_CAP + 2))
async def test_r36_any_text_is_answered_once_and_garble_changes_nothing(database, ctx, texts):
    await truncate_all()
    await build_org()
    await new_matter(ctx, "D17")
    await new_matter(ctx, "D18", title="整治背街小巷照明")
    inbox = Inbox(ctx)
    noise_run = 0
    for text in texts:
        before = await snapshot()
        row = await send(inbox, text)
        assert row.status in ("done", "refused", "error")
        capped = noise_run >= NOISE_CAP and is_noise(row.status, row.outcome)
        assert len(await answers(row)) == (0 if capped else 1)
        # Refused or asked back (an input slip): nothing changes until it is confirmed.
        if isinstance(parse_reply(row.text, now=ctx.clock.now(), tz=ctx.tz), ParseError | Question):
            assert row.status == "error"
            assert await snapshot() == before
        noise_run = noise_run + 1 if is_noise(row.status, row.outcome) else 0
