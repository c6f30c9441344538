"""/dev/sms over real HTTP: a stored reply is shown as text, never as markup (issue 8
item 2), and a body that is no reply form gets 400 and stores nothing (items 18, 19)."""

from __future__ import annotations

from datetime import date

import aiohttp
import pytest

from dispatch.channel import InboundText
from models import DevDelivery, InboundMessage, Person, Role, Unit
from service.app import build_app, build_service
from service.config import Settings
from tests.loopback import serve
from workflow.records import Actor
from workflow.service import MatterDraft, register_matter

SCRIPT = "<script>alert('xss')</script>"


@pytest.fixture
async def dev(db, clock):
    service = build_service(Settings(database_url=db, development=True), clock=clock)
    async with serve(build_app(service)) as base, aiohttp.ClientSession() as http:
        yield service, base, http


async def test_a_stored_reply_renders_as_text(dev):
    """Issue 8 item 2: the page autoescapes, so a reply `<script>` is shown, not run."""
    service, base, http = dev
    await service.sink.inbound(InboundText(channel="sms", sender="+8613800000002",
                                           text=SCRIPT))
    async with http.get(f"{base}/dev/sms") as response:
        html = await response.text()
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html


async def test_sms_texts_stay_plain(dev):
    """Issue 8 item 2: only HTML templates escape; an SMS keeps `<` and `&` as typed."""
    service, _, _ = dev
    water = await Unit.create(key="water", name="区水务局")
    await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=water, name="李一", role=Role.OPERATOR_A, phone="+8613800000002")
    await register_matter(service.ctx, MatterDraft(
        board="daily", title="河道<清理>&复查", initiator="ducha", lead="water",
        approver="张副区长", approved_on=date(2026, 11, 20), not_classified=True, code="D1"),
        Actor(None, "web"))
    await service.tick()
    await service.dispatcher.run_once()  # the dispatcher loop's step
    [notice] = await DevDelivery.filter(channel="sms")
    assert "河道<清理>&复查" in notice.text


@pytest.mark.parametrize("body, content_type", [
    (b"phone=13800000002&text=\xff\xfe", "application/x-www-form-urlencoded"),
    (b"--xyz\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nD1", "multipart/form-data; boundary=xyz"),
    (b"garbage without any boundary", "multipart/form-data; boundary=xyz"),
    (b"--xyz\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\xff\xfe\r\n--xyz--\r\n",
     "multipart/form-data; boundary=xyz"),
], ids=["bad-utf8", "unterminated-multipart", "garbage-multipart", "bad-utf8-multipart"])
async def test_a_body_that_is_no_form_is_400(dev, body, content_type):
    """Issue 8 item 18: invalid UTF-8 or malformed multipart is a 400, not a 500."""
    _, base, http = dev
    async with http.post(f"{base}/dev/sms", data=body, allow_redirects=False,
                         headers={"Content-Type": content_type}) as response:
        assert response.status == 400
    assert await InboundMessage.all().count() == 0


async def test_a_file_in_the_text_field_is_refused(dev):
    """Issue 8 item 19: a file upload as `text` is refused, not stored as a Python repr."""
    _, base, http = dev
    form = aiohttp.FormData()
    form.add_field("phone", "13800000002")
    form.add_field("text", b"D1 \xe6\x94\xb6\xe5\x88\xb0", filename="reply.txt",
                   content_type="text/plain")
    async with http.post(f"{base}/dev/sms", data=form, allow_redirects=False) as response:
        assert response.status == 400
    assert await InboundMessage.all().count() == 0
