"""Issue 10 "the parse-apply-answer path keeps up with replies": one progress report costs a
bounded number of database statements. Each repeated read (the matter, its facts, its
headings, the sender's unit, the short numbers) once cost a statement more; the bound
catches one creeping back in."""

from __future__ import annotations

from dispatch.wakeup import is_postgres
from replies.inbound import Status
from tests.inbound.conftest import answer_text, new_matter, send
from tests.statements import counted

# 40 on SQLite before issue 10's work (and 3 more when the sender's short numbers are first
# given out). PostgreSQL adds the sender's advisory lock (once more when the drain finds
# nothing left) and row lock, the matter's lock and fresh read, and the wake-ups (NOTIFY).
SQLITE_STATEMENTS = 30
POSTGRES_STATEMENTS = 37
SLACK = 2  # a statement more somewhere is a review question, not a failed build


async def test_one_progress_report_costs_few_statements(org, ctx, inbox):
    for code in ("D1", "D2", "D3"):
        await new_matter(ctx, code)
    await send(inbox, "D1 收到")  # gives the sender's short numbers out
    with counted() as counter:
        row = await send(inbox, "D2 进展 已清理三段")
    assert row.status == Status.DONE
    assert "D2" in await answer_text(row)
    # `send` reads the row back after processing: not part of the reply's cost.
    cost = len(counter.statements) - 1
    bound = POSTGRES_STATEMENTS if is_postgres() else SQLITE_STATEMENTS
    assert cost <= bound + SLACK, "\n".join(counter.statements)
