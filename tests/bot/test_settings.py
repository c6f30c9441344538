"""/settings over real polling: a person picks the channel their messages go on (issue 9
part 4); the change is the workflow's, audited."""

from __future__ import annotations

from models import AuditEntry, ChannelPreference, Person
from tests.bot.conftest import OPERATOR_CHAT, World
from tests.bot.fake_telegram import FakeTelegram


async def test_issue9_part4_settings_shows_the_preference_and_a_button_changes_it(
        polling, telegram: FakeTelegram, world: World) -> None:
    await telegram.converse(OPERATOR_CHAT, "/settings")
    (shown,) = telegram.sent("sendMessage", OPERATOR_CHAT)
    assert "短信和消息都发" in shown.params["text"] and "4 小时" in shown.params["text"]
    buttons = [b["callback_data"] for row in shown.params["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == ["pref:both", "pref:messenger_first", "pref:sms_only"]
    await telegram.converse(OPERATOR_CHAT, "press:pref:messenger_first")
    assert telegram.texts(OPERATOR_CHAT)[-1] == "已设置接收方式：消息优先。"
    operator = await Person.get(id=world.operator.id)
    assert operator.channel_preference is ChannelPreference.MESSENGER_FIRST
    entry = await AuditEntry.get(action="channel_preference")
    assert (entry.actor_id, entry.channel) == (operator.id, "telegram")
    await telegram.converse(OPERATOR_CHAT, "press:pref:messenger_first")
    assert telegram.texts(OPERATOR_CHAT)[-1] == "接收方式未变：消息优先。"


async def test_issue9_part4_a_forged_preference_changes_nothing(
        polling, telegram: FakeTelegram, world: World) -> None:
    await telegram.converse(OPERATOR_CHAT, "/settings")
    await telegram.press(OPERATOR_CHAT, telegram.last_message_id(OPERATOR_CHAT), "pref:email")
    await telegram.wait_for("answerCallbackQuery")
    operator = await Person.get(id=world.operator.id)
    assert operator.channel_preference is ChannelPreference.BOTH
