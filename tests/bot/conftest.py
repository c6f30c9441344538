"""Shared fixtures: an in-memory database with a small org, a local Telegram server, a real
aiogram Bot pointed at it, a recording inbox, and the dispatcher polling for real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.app import build_dispatcher, run_polling
from bot.callbacks import row_buttons
from bot.channel import TelegramChannel
from dispatch.channel import InboundText, Outgoing, Receipt
from dispatch.dispatcher import Dispatcher as OutboxDispatcher
from dispatch.render import Renderer
from models import BoardInitiator, Matter, MatterState, Node, Person, Role, Unit
from scheduler.clock import SHANGHAI, Clock, VirtualClock
from service.config import Settings, TelegramSettings
from tests.bot.fake_telegram import TOKEN, WAIT, FakeTelegram, eventually, serve

SECRET = "test-callback-secret"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=SHANGHAI)

SUPERVISOR_CHAT, OPERATOR_CHAT, STAFF_CHAT, STRANGER_CHAT = 1001, 2002, 2003, 9009


class RecordingSink:
    """The inbox as the bot sees it. With `channel` set it answers every message through
    that channel, the way the real inbox's reply comes back (R15, R36)."""

    def __init__(self) -> None:
        self.received: list[InboundText] = []
        self.receipts: list[Receipt] = []
        self.channel: TelegramChannel | None = None
        self.fail = False

    async def inbound(self, message: InboundText) -> None:
        if self.fail:
            raise RuntimeError("inbox is down")
        self.received.append(message)
        if self.channel:
            await self.channel.send(Outgoing(
                message_id=len(self.received), channel="telegram", to=message.sender,
                text=f"answer to: {message.text}", kind="reply"))

    async def receipt(self, receipt: Receipt) -> None:
        self.receipts.append(receipt)

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]

    async def next_text(self, count: int = 1) -> str:
        await eventually(lambda: len(self.received) >= count)
        return self.received[count - 1].text


@dataclass
class World:
    ducha: Unit  # 督查室: initiates daily, key_work, reform
    justice: Unit  # the lead unit of D17
    transport: Unit  # cooperating on D17
    supervisor: Person
    operator: Person
    staff: Person
    unlinked: Person
    matter: Matter


def settings(**telegram: Any) -> Settings:
    return Settings(telegram=TelegramSettings(callback_secret=SECRET, **telegram))


@pytest.fixture
async def world(db: None) -> World:
    ducha = await Unit.create(key="ducha", name="区委督查室")
    justice = await Unit.create(key="sfj", name="区司法局")
    transport = await Unit.create(key="jtj", name="区交通局")
    for board in ("daily", "key_work", "reform"):
        await BoardInitiator.create(board=board, initiator=ducha)
    supervisor = await Person.create(unit=ducha, name="王督办", role=Role.SUPERVISOR,
                                     phone="+8613800138001", telegram_chat_id=SUPERVISOR_CHAT)
    operator = await Person.create(unit=justice, name="李联络", role=Role.OPERATOR_A,
                                   phone="+8613800138002", telegram_chat_id=OPERATOR_CHAT)
    staff = await Person.create(unit=justice, name="赵科员", role=Role.STAFF,
                                phone="+8613800138003", telegram_chat_id=STAFF_CHAT)
    unlinked = await Person.create(unit=justice, name="陈备岗", role=Role.OPERATOR_B,
                                   phone="+8613912345678")
    assigned = NOW - timedelta(hours=27)
    matter = await Matter.create(
        code="D17", title="老旧小区消防通道整治", source="区长办公会", board="daily",
        initiator=ducha, lead=justice, approver="张副区长", approved_on=date(2026, 11, 19),
        not_classified=True, state=MatterState.ASSIGNED, created_at=assigned,
        assigned_at=assigned)
    await matter.cooperating.add(transport)
    await Node.create(matter=matter, key="1d", due_at=assigned + timedelta(days=1))
    await Node.create(matter=matter, key="3d", due_at=assigned + timedelta(days=3))
    return World(ducha, justice, transport, supervisor, operator, staff, unlinked, matter)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    async with serve(server.app()) as base:
        server.base = base
        yield server


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.base))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(NOW)


@pytest.fixture
def channel(bot: Bot) -> TelegramChannel:
    return TelegramChannel(bot)


@pytest.fixture
def registered() -> list[Any]:
    """What the /new dialog registered (the service's `register` stand-in)."""
    return []


@pytest.fixture
async def polling(bot: Bot, telegram: FakeTelegram, sink: RecordingSink, clock: VirtualClock,
                  world: World, registered: list[Any]) -> AsyncIterator[Dispatcher]:
    async def register(draft: Any, person: Person) -> Any:
        registered.append((draft, person))
        return Matter(code="D18")

    dispatcher = build_dispatcher(sink, clock, settings(), register=register)
    async with polled(bot, telegram, dispatcher):
        yield dispatcher


@asynccontextmanager
async def polled(bot: Bot, telegram: FakeTelegram,
                 dispatcher: Dispatcher) -> AsyncIterator[None]:
    """The dispatcher long-polling the local server until the block ends, and the outbox
    sending the answers its handlers queue."""
    task = asyncio.create_task(run_polling(bot, dispatcher, polling_timeout=1))
    await telegram.wait_for("getUpdates")
    try:
        async with sending(bot, dispatcher["clock"]):
            yield
    finally:
        await asyncio.wait_for(dispatcher.stop_polling(), WAIT)
        await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def sending(bot: Bot, clock: Clock) -> AsyncIterator[OutboxDispatcher]:
    """The service's outbound dispatcher on the real channel, running every 20 ms."""
    channel = TelegramChannel(bot)
    outbox = OutboxDispatcher({"telegram": channel}, Renderer(), clock, "bot-tests",
                              buttons_for=row_buttons(SECRET))

    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            await outbox.run_once()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)

    task = asyncio.create_task(run())
    try:
        yield outbox
    finally:
        stop.set()  # not cancelled: a transaction cut in half would hold the database
        await asyncio.wait_for(task, WAIT)
