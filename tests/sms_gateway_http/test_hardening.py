"""The Alibaba webhook of a composed service, over real HTTP: the callback token never
reaches the access log (issue 8 item 4), and unusable content gets 400 while the valid
entries of a batch are stored (item 18)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from models import InboundMessage
from service.app import build_app, build_service
from service.config import Settings
from tests.loopback import closed_port, serve

TOKEN = "k3Jd9-aliyun-callback-token-5fQ"
ALIYUN = {"access_key_id": "LTAI", "access_key_secret": "s", "sign_name": "某区督办",
          "template_code": "SMS_100", "callback_token": TOKEN}
ROOT = Path(__file__).resolve().parents[2]


def up(n: int, content: object = "D1 收到") -> dict:
    return {"phone_number": f"1380013800{n}", "content": content,
            "send_time": "2026-11-23 10:00:00", "dest_code": "1234", "sequence_id": 1000 + n}


@pytest.fixture
async def aliyun_base(db, clock):
    service = build_service(Settings(database_url=db, sms={"provider": "aliyun",
                                                           "aliyun": ALIYUN}), clock=clock)
    async with serve(build_app(service)) as base:
        yield f"{base}/sms/aliyun"


async def post(url: str, body: bytes) -> tuple[int, str]:
    async with (aiohttp.ClientSession() as http,
                http.post(url, data=body, headers={"Content-Type": "application/json"}) as r):
        return r.status, await r.text()


async def test_a_nan_entry_is_refused_and_the_rest_of_the_batch_stored(aliyun_base):
    """Issue 8 item 18: a NaN entry no JSON column can hold is refused; the valid entries
    of the same batch are stored and the batch acknowledged, so Alibaba does not push it
    again for ever."""
    body = json.dumps([up(1), up(2, float("nan")), up(3)]).encode()
    status, text = await post(f"{aliyun_base}/up/{TOKEN}", body)
    assert status == 200 and json.loads(text)["code"] == 0
    senders = sorted(m.sender for m in await InboundMessage.all())
    assert senders == ["13800138001", "13800138003"]


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # nested past the interpreter's stack
    json.dumps([up(1, float("nan"))]).encode(),  # nothing usable at all
    b"[NaN]",
    b"\xff\xfe[]",
], ids=["deep", "only-nan", "bare-nan", "bad-utf8"])
async def test_unusable_bodies_are_400_not_500(aliyun_base, body):
    """Issue 8 item 18: deeply nested JSON (RecursionError) or NaN is a 400, not a 500."""
    for kind in ("up", "report"):
        status, _ = await post(f"{aliyun_base}/{kind}/{TOKEN}", body)
        assert status == 400
    assert await InboundMessage.all().count() == 0


def test_the_callback_token_never_reaches_the_access_log(tmp_path: Path):
    """Issue 8 item 4: `duban serve` logs each request, with the token's path segment
    redacted; the token is nowhere in its output."""
    config = tmp_path / "duban.toml"
    config.write_text('[sms]\nprovider = "aliyun"\n[sms.aliyun]\n' + "".join(
        f'{k} = "{v}"\n' for k, v in ALIYUN.items()), encoding="utf-8")
    port = closed_port()
    env = {"PATH": "/usr/bin:/bin", "DUBAN_DATABASE_URL": f"sqlite://{tmp_path / 'd.sqlite3'}",
           "DUBAN_CONSOLE__PORT": str(closed_port())}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--config", str(config), "serve", "--port",
         str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        answered = wait_for_post(f"http://127.0.0.1:{port}/sms/aliyun/up/{TOKEN}",
                                 json.dumps([up(1)]).encode())
    finally:
        os.kill(process.pid, signal.SIGTERM)
        output, errors = process.communicate(timeout=30)
    assert answered == 200
    log = output + errors
    assert "POST /sms/aliyun/up/*** " in log
    assert TOKEN not in log


def wait_for_post(url: str, body: bytes, seconds: float = 30) -> int:
    """POST once the server listens (a blocking client: this test drives a process)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
