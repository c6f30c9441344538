"""Issue 10 "inbound at scale": the webhook stores the raw reply and acknowledges at once; the
reply worker parses, applies and answers it — woken on store, each sender's messages one at
a time in arrival order (also across workers), every row exactly once, rows a crash left
`received` after the restart."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp

from dispatch.channel import InboundText
from dispatch.dispatcher import Dispatcher
from dispatch.loop import DispatchLoop
from dispatch.render import Renderer
from models import InboundMessage
from replies.inbound import Inbox, Status
from replies.worker import BATCH, BATCH_WHILE_ARRIVING, ReplyWorker
from sms_gateway.webhooks import sms_webhook_routes
from tests.dispatch.support import ScriptedChannel
from tests.inbound.conftest import OPERATOR, OPERATOR_B, SUPERVISOR, answers, new_matter
from tests.loopback import serve
from tests.sms_gateway_http.test_webhooks import ALIYUN, TOKEN

NEVER = 3600.0  # a poll interval no test waits for: only a wake-up makes a worker look
SENDERS = (OPERATOR, OPERATOR_B, SUPERVISOR)


class Watched(Inbox):
    """The inbox of a deferred instance, recording what it processes and when."""

    def __init__(self, ctx, seen: list[tuple[str, int]], busy: set[str],
                 overlaps: list[str], gate: asyncio.Event | None = None) -> None:
        super().__init__(ctx, later=True)
        self.seen, self.busy, self.overlaps, self.gate = seen, busy, overlaps, gate
        self.at_gate = False

    async def drain_batch(self, limit: int) -> int:
        if self.gate is not None:  # held before its transaction: the row stays readable
            self.at_gate = True
            await self.gate.wait()
        return await super().drain_batch(limit)

    async def process_rows(self, rows: list[InboundMessage]) -> None:
        senders = [row.sender for row in rows]
        self.overlaps += [s for s in senders if s in self.busy]
        self.busy.update(senders)
        try:
            self.seen += [(row.sender, row.id) for row in rows]
            await asyncio.sleep(0.001)  # let another worker try the same senders meanwhile
            await super().process_rows(rows)
        finally:
            self.busy.difference_update(senders)


@asynccontextmanager
async def running(*workers: ReplyWorker | DispatchLoop) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition: Callable[[], object], seconds: float = 60.0) -> float:
    """Wait (real time) until `condition` holds (awaited if it is a coroutine); generous,
    since a loaded machine is slow, and a wake-up that never comes still fails it."""
    started = time.perf_counter()
    while True:
        held = condition()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return time.perf_counter() - started
        assert time.perf_counter() - started < seconds, "timed out"
        await asyncio.sleep(0.005)


async def none_waiting() -> bool:
    return not await InboundMessage.filter(status=Status.RECEIVED).exists()


def webhooks(inbox) -> aiohttp.web.Application:
    app = aiohttp.web.Application()
    app.add_routes(sms_webhook_routes(inbox, aliyun=ALIYUN, twilio=None))
    return app


def aliyun_up(text: str, sequence_id: int) -> list[dict]:
    """An Alibaba SmsUp push of one reply from the operator."""
    return [{"phone_number": OPERATOR, "content": text, "send_time": "2026-11-23 10:00:00",
             "dest_code": "1069", "sequence_id": sequence_id}]


def sms(sender: str, text: str, number: int) -> InboundText:
    return InboundText("sms", f"+86{sender}", text, f"up-{number}", {})


async def test_issue10_the_webhook_acknowledges_before_the_reply_is_processed(org, ctx):
    """The provider gets its 200 once the raw row is committed; processing (held here)
    happens afterwards in the worker, and then the answer is queued."""
    await new_matter(ctx, "D1")
    gate = asyncio.Event()
    inbox = Watched(ctx, [], set(), [], gate)
    app, body = webhooks(inbox), aliyun_up("D1 进展 已清理三处", 7)
    async with serve(app) as url, aiohttp.ClientSession() as http, \
            running(ReplyWorker(inbox, poll_seconds=NEVER)):
        async with asyncio.timeout(5), \
                http.post(f"{url}/sms/aliyun/up/{TOKEN}", json=body) as response:
            assert response.status == 200
        [row] = await InboundMessage.all()
        await until(lambda: inbox.at_gate)  # the worker has been woken, and is held
        assert (await InboundMessage.get(id=row.id)).status == Status.RECEIVED
        assert await answers(row) == []
        gate.set()
        await until(lambda: answers(row))
    assert (await InboundMessage.get(id=row.id)).outcome == "progress D1"


async def test_issue10_one_senders_replies_in_arrival_order_never_two_at_once(org, ctx):
    """Three workers, three senders with many replies each: every sender's replies are
    processed in the order they arrived and one at a time; all senders get done."""
    await new_matter(ctx, "D1")
    seen: list[tuple[str, int]] = []
    busy: set[str] = set()
    overlaps: list[str] = []
    inboxes = [Watched(ctx, seen, busy, overlaps) for _ in range(3)]
    for n in range(30):
        await inboxes[0].inbound(sms(SENDERS[n % 3], f"D1 进展 第{n}次", n))
    async with running(*(ReplyWorker(i, parallel=3, poll_seconds=NEVER) for i in inboxes)):
        await until(lambda: len(seen) == 30)
        await until(none_waiting)
    assert overlaps == []
    for sender in SENDERS:
        ids = [i for s, i in seen if s == f"+86{sender}"]
        assert len(ids) == 10 and ids == sorted(ids)


async def test_issue10_two_worker_instances_never_process_a_row_twice(org, ctx):
    """Two workers with their own connections, as two instances on one database (on
    PostgreSQL the sender's advisory lock and the row lock decide): every row once."""
    await new_matter(ctx, "D1")
    seen: list[tuple[str, int]] = []
    overlaps: list[str] = []
    one = Watched(ctx, seen, set(), overlaps)  # each instance sees only its own work
    other = Watched(ctx, seen, set(), overlaps)
    async with running(ReplyWorker(one, poll_seconds=NEVER),
                       ReplyWorker(other, poll_seconds=NEVER)):
        for n in range(40):  # stored through both instances, both woken each time
            await (one, other)[n % 2].inbound(sms(SENDERS[n % 3], f"D1 进展 第{n}次", n))
        await until(none_waiting)
    counts = collections.Counter(i for _, i in seen)
    assert len(counts) == 40 and set(counts.values()) == {1}
    assert await InboundMessage.filter(outcome="").count() == 0


async def test_issue10_a_reply_stored_before_a_crash_is_processed_after_the_restart(org, ctx):
    """Stored and acknowledged, then the instance died before its worker got to it: the new
    instance's worker processes it at start-up, with no wake-up for it."""
    await new_matter(ctx, "D1")
    await Inbox(ctx, later=True).inbound(sms(OPERATOR, "D1 收到", 1))  # no worker running
    [row] = await InboundMessage.all()
    assert row.status == Status.RECEIVED
    async with running(ReplyWorker(Inbox(ctx, later=True), poll_seconds=NEVER)):
        await until(none_waiting)
    assert (await InboundMessage.get(id=row.id)).outcome == "acknowledge D1"
    assert len(await answers(row)) == 1


async def test_issue10_the_answer_goes_out_on_the_wake_up_not_at_a_tick(org, ctx, clock):
    """Reply stored -> worker woken -> answer queued -> dispatcher woken -> sent, with the
    virtual clock standing still and both polls never due (an hour away): only the wake-ups
    can have carried it. How fast is the bench's figure (`bench/inbound_webhook.py`), not a
    timed test's: a loaded machine must not fail it."""
    answer = await answered_on_wake_ups(ctx, clock, Inbox(ctx, later=True))
    assert answer.kind == "reply"


class SlowToCommit(Inbox):
    """A batch whose transaction goes on after its answers were announced (a loaded
    machine): the dispatcher, woken at the announcement, finds nothing committed yet."""

    async def process_rows(self, rows: list[InboundMessage]) -> None:
        await super().process_rows(rows)
        await asyncio.sleep(0.3)


async def test_issue10_an_answer_committed_after_the_dispatchers_rechecks_still_goes_out(
        org, ctx, clock, monkeypatch):
    """The in-process wake-up comes before the batch commits (its NOTIFY at the commit,
    to other instances); with this process's rechecks spent before the commit and both
    polls an hour away, the wake-up after the commit is what sends the answer."""
    monkeypatch.setattr("dispatch.wakeup.RECHECKS", (0.001,))
    await answered_on_wake_ups(ctx, clock, SlowToCommit(ctx, later=True), seconds=10.0)


async def answered_on_wake_ups(ctx, clock, inbox: Inbox, seconds: float = 60.0):
    """A receipt stored while the worker and the dispatcher loop (polls never due) run:
    its answer, once the channel has sent it."""
    await new_matter(ctx, "D1")
    channel = ScriptedChannel("sms")
    dispatcher = Dispatcher({"sms": channel}, Renderer("【督办】"), clock, "answers")
    async with running(ReplyWorker(inbox, poll_seconds=NEVER),
                       DispatchLoop(dispatcher, poll_seconds=NEVER)):
        await inbox.inbound(sms(OPERATOR, "D1 收到", 1))
        row = await InboundMessage.get(sender=f"+86{OPERATOR}")
        [answer] = await until_answer(row)
        await until(lambda: answer.id in channel.ids(), seconds=seconds)
    return answer


async def until_answer(row: InboundMessage) -> list:
    await until(lambda: answers(row))
    return await answers(row)


async def test_issue10_a_store_only_instance_acknowledges_and_another_instance_answers(
        org, ctx, database):
    """`reply_workers = 0`: the webhook-facing instance has no reply worker; it stores and
    acknowledges, and the reply waits for a worker instance on the same database."""
    from service.app import build_service
    from service.config import Settings

    await new_matter(ctx, "D1")
    front = build_service(Settings(database_url=database, reply_workers=0), clock=ctx.clock)
    assert front.replies is None
    app, body = webhooks(front.sink), aliyun_up("D1 进展 已清理三处", 8)
    async with serve(app) as url, aiohttp.ClientSession() as http, asyncio.timeout(5), \
                http.post(f"{url}/sms/aliyun/up/{TOKEN}", json=body) as response:
        assert response.status == 200
    [row] = await InboundMessage.all()
    assert row.status == Status.RECEIVED
    worker = build_service(Settings(database_url=database, reply_workers=2), clock=ctx.clock)
    assert worker.replies.parallel == 2
    async with running(worker.replies):
        await until(none_waiting)
    assert (await InboundMessage.get(id=row.id)).outcome == "progress D1"
    assert len(await answers(row)) == 1


async def test_issue10_batches_are_small_while_this_instances_webhooks_store_replies(org, ctx):
    """Acknowledgements first: while replies arrive at this instance's own webhooks, its
    worker takes `BATCH_WHILE_ARRIVING` senders a batch (the webhooks share its core);
    replies another instance stored, its webhooks quiet, are taken `BATCH` at a time."""
    await new_matter(ctx, "D1")
    limits: list[int] = []

    class Sized(Inbox):
        async def drain_batch(self, limit: int) -> int:
            limits.append(limit)
            return await super().drain_batch(limit)

    here, elsewhere = Sized(ctx, later=True), Inbox(ctx, later=True)
    app, body = webhooks(here), aliyun_up("D1 进展 已清理三处", 8)
    async with serve(app) as url, aiohttp.ClientSession() as http, \
            running(ReplyWorker(here, poll_seconds=NEVER)):
        async with http.post(f"{url}/sms/aliyun/up/{TOKEN}", json=body) as response:
            assert response.status == 200
        await until(none_waiting)
        assert limits[0] == BATCH_WHILE_ARRIVING
        limits.clear()
        await elsewhere.inbound(sms(OPERATOR, "D1 进展 又清理两处", 9))
        await until(none_waiting)
        assert limits[0] == BATCH
