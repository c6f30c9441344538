"""Development mode is explicit (issue 8 item 1), weak secrets stop start-up outside it
(item 7), and the one runtime context honours the configured time zone (item 23)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import aiohttp
import pytest

from models import DevDelivery, Person, Role, Unit
from service.app import build_app, build_service, serving_line
from service.config import ConfigError, Settings, TelegramSettings
from tests.bot.fake_telegram import TOKEN, FakeTelegram
from tests.bot.fake_telegram import serve as serve_telegram
from tests.loopback import serve
from tests.service.processes import duban
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

STRONG = "a-long-random-callback-secret-0123"


async def test_a_telegram_only_deployment_on_a_public_host_has_no_dev_page(db, clock):
    """Issue 8 item 1: without development mode, a production config (Telegram only, on
    0.0.0.0) mounts no /dev/sms and has no development SMS channel."""
    telegram = FakeTelegram()
    async with serve_telegram(telegram.app()) as api:
        settings = Settings(database_url=db, host="0.0.0.0", telegram=TelegramSettings(
            token=TOKEN, api_base=api, callback_secret=STRONG))
        service = build_service(settings, clock=clock)
        try:
            assert "sms" not in service.channels
            async with serve(build_app(service)) as base, aiohttp.ClientSession() as http:
                for method in ("GET", "POST"):
                    async with http.request(method, f"{base}/dev/sms",
                                            data={"phone": "13800000001", "text": "D1 收到"}
                                            ) as response:
                        assert response.status == 404
        finally:
            await service.bot.session.close()


async def test_development_mode_mounts_the_dev_page(db, clock):
    """Issue 8 item 1: DUBAN_DEVELOPMENT=1 (development=True) is what brings /dev/sms."""
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    async with (serve(build_app(service)) as base, aiohttp.ClientSession() as http,
                http.get(f"{base}/dev/sms") as response):
        assert response.status == 200
    assert set(service.channels) == {"sms", "telegram"}


@pytest.mark.parametrize("settings, named", [
    ({"development": True, "host": "0.0.0.0"}, "allow_dev_on_public_host"),
    ({"sms": {"provider": "dev"}}, "sms.provider"),
    ({"telegram": {"token": TOKEN}}, "telegram.callback_secret"),
    ({"telegram": {"token": TOKEN, "callback_secret": "short"}}, "telegram.callback_secret"),
    ({"telegram": {"token": TOKEN, "callback_secret": STRONG, "mode": "webhook",
                   "webhook_url": "https://x.example/hook", "webhook_secret": "x"}},
     "telegram.webhook_secret"),
    ({"web_token": "abc"}, "web_token"),
    ({"wecom": {"corp_id": "ww1", "agent_id": 1}}, "wecom.button_secret"),
    ({"wecom": {"corp_id": "ww1", "agent_id": 1, "button_secret": "change-me"}},
     "wecom.button_secret"),
])
def test_unsafe_settings_are_refused_naming_the_setting(settings, named):
    """Issue 8 items 1 and 7: development mode on a public host (unless forced), the dev
    channel outside development mode, and weak or default secrets are refused."""
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        build_service(Settings(**settings))


def test_development_mode_on_a_public_host_can_be_forced():
    """Issue 8 item 1: forced, it starts, and weak secrets are fine in development."""
    service = build_service(Settings(development=True, host="0.0.0.0",
                                     allow_dev_on_public_host=True))
    assert "sms" in service.channels


def test_serve_refuses_dev_mode_on_a_public_host_in_one_line(tmp_path):
    """Issue 8 item 1: `DUBAN_DEVELOPMENT=1 duban serve --host 0.0.0.0` stops with one line
    and touches no database; --allow-dev-on-public-host is the way to force it."""
    database = tmp_path / "never.sqlite3"
    result = duban(tmp_path, "serve", "--host", "0.0.0.0", database=database,
                   DUBAN_DEVELOPMENT="1")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--allow-dev-on-public-host" in result.stderr and not database.exists()


def test_serve_refuses_the_default_callback_secret_in_one_line(tmp_path):
    """Issue 8 item 7: a bot with the default callback_secret does not start."""
    result = duban(tmp_path, "serve", DUBAN_TELEGRAM__TOKEN=TOKEN)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "telegram.callback_secret" in line


async def test_sms_texts_honour_the_configured_time_zone(db, clock):
    """Issue 8 item 23: the service's context is built from settings in one place, so an
    SMS deadline is shown in `timezone` (UTC here), as the bot and `plan` show it."""
    water = await Unit.create(key="water", name="区水务局")
    await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=water, name="李一", role=Role.OPERATOR_A, phone="+8613800000002")
    service = build_service(Settings(database_url=db, development=True, timezone="UTC"),
                            clock=clock)
    await register_matter(service.ctx, MatterDraft(
        board="daily", title="清理辖区河道垃圾", initiator="ducha", lead="water",
        approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True, code="D1",
        deadline=datetime(2026, 12, 30, 16, 0, tzinfo=UTC)), Actor(None, "web"))
    await service.tick()
    await service.dispatcher.run_once()  # the dispatcher loop's step
    [notice] = await DevDelivery.filter(channel="sms", address="+8613800000002")
    assert "2026-12-30 16:00" in notice.text  # 2026-12-31 00:00 in Shanghai


def test_serve_names_the_dev_page_only_in_development_mode():
    """The README's quick start: `./dev serve` prints where /dev/sms is (the notices and the
    console's login code are read there); a production `serve` names no such page."""
    dev = serving_line(Settings(development=True, port=18080))
    assert "http://127.0.0.1:18080/dev/sms" in dev and "sms: dev" in dev
    production = serving_line(Settings(port=18080))
    assert "/dev/sms" not in production and "sms: none" in production
