"""Linking a chat to a registered person, over real polling: by shared contact, by a
one-time /start code; everyone else gets the explanation and no data."""

from __future__ import annotations

from datetime import timedelta

from bot.callbacks import buttons_for
from bot.channel import TelegramChannel
from dispatch.channel import Outgoing
from models import AuditEntry, LinkCode, Person
from tests.bot.conftest import NOW, OPERATOR_CHAT, SECRET, RecordingSink, World
from tests.bot.fake_telegram import FakeTelegram

NEW_CHAT = 3003


async def test_shared_own_contact_links_the_registered_phone(
        polling, telegram: FakeTelegram, world: World) -> None:
    await telegram.share_contact(NEW_CHAT, "8613912345678")  # Telegram drops the plus

    (reply,) = await telegram.wait_for("sendMessage", NEW_CHAT)
    assert world.unlinked.name in reply.params["text"]
    person = await Person.get(id=world.unlinked.id)
    assert person.telegram_chat_id == NEW_CHAT
    audit = await AuditEntry.get(action="link_chat")
    assert audit.detail["via"] == "contact" and audit.channel == "telegram"


async def test_someone_elses_contact_card_links_nobody(
        polling, telegram: FakeTelegram, world: World) -> None:
    await telegram.share_contact(NEW_CHAT, "+8613912345678", user_id=4242)

    (reply,) = await telegram.wait_for("sendMessage", NEW_CHAT)
    assert reply.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert (await Person.get(id=world.unlinked.id)).telegram_chat_id is None


async def test_unregistered_phone_is_not_linked(
        polling, telegram: FakeTelegram, world: World) -> None:
    await telegram.share_contact(NEW_CHAT, "8618611112222")

    await telegram.wait_for("sendMessage", NEW_CHAT)
    assert not await Person.filter(telegram_chat_id=NEW_CHAT).exists()


async def test_start_code_links_once(polling, telegram: FakeTelegram, world: World) -> None:
    await LinkCode.create(person=world.unlinked, code="K7Q2M9", expires_at=NOW + timedelta(days=1))

    await telegram.send_text(NEW_CHAT, "/start K7Q2M9")
    (reply,) = await telegram.wait_for("sendMessage", NEW_CHAT)
    assert world.unlinked.name in reply.params["text"]
    assert (await Person.get(id=world.unlinked.id)).telegram_chat_id == NEW_CHAT
    assert (await LinkCode.get(code="K7Q2M9")).used_at == NOW

    await telegram.send_text(NEW_CHAT + 1, "/start K7Q2M9")  # a second chat tries the same
    await telegram.wait_for("sendMessage", NEW_CHAT + 1)
    assert not await Person.filter(telegram_chat_id=NEW_CHAT + 1).exists()


async def test_expired_start_code_is_refused(polling, telegram: FakeTelegram,
                                             world: World) -> None:
    await LinkCode.create(person=world.unlinked, code="OLD123", expires_at=NOW - timedelta(1))

    await telegram.send_text(NEW_CHAT, "/start OLD123")
    await telegram.wait_for("sendMessage", NEW_CHAT)
    assert (await Person.get(id=world.unlinked.id)).telegram_chat_id is None


async def test_relinking_a_chat_moves_it(polling, telegram: FakeTelegram, world: World) -> None:
    await LinkCode.create(person=world.unlinked, code="MOVE42", expires_at=NOW + timedelta(1))

    await telegram.send_text(OPERATOR_CHAT, "/start MOVE42")
    await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert (await Person.get(id=world.unlinked.id)).telegram_chat_id == OPERATOR_CHAT
    assert (await Person.get(id=world.operator.id)).telegram_chat_id is None


async def test_unlinked_chat_gets_explanation_and_no_data(
        polling, telegram: FakeTelegram, sink: RecordingSink, world: World,
        channel: TelegramChannel) -> None:
    for text in ("D17 收到", "/list", "/matter D17", "/approve D17"):
        await telegram.send_text(NEW_CHAT, text)
    replies = await telegram.wait_for("sendMessage", NEW_CHAT, count=4)
    # A notice with genuine buttons that reached the chat before it was unlinked:
    sent = await channel.send(Outgoing(message_id=1, channel="telegram", to=str(NEW_CHAT),
                                       text="D17", kind="assigned",
                                       buttons=buttons_for("D17", SECRET)))
    await telegram.press(NEW_CHAT, int(sent.provider_ids[0]), buttons_for("D17", SECRET)[0][0].data)

    (answer,) = await telegram.wait_for("answerCallbackQuery")
    assert answer.params["show_alert"] == "true"
    assert all("/start" in r.params["text"] for r in replies[:4])
    assert all(world.matter.title not in r.params["text"] for r in replies)
    assert sink.received == []
    assert not telegram.sent("editMessageText")


async def test_linked_start_says_already_linked(polling, telegram: FakeTelegram,
                                                world: World) -> None:
    await telegram.send_text(OPERATOR_CHAT, "/start")

    (reply,) = await telegram.wait_for("sendMessage", OPERATOR_CHAT)
    assert world.operator.name in reply.params["text"]
