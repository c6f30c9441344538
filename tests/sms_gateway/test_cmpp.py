"""CmppChannel against a loopback ISMG written from the CMPP specification (tests/ismg.py),
with the CONNECT and SUBMIT bytes the adapter writes cross-checked by `cmppy`, an
independent CMPP client from PyPI. Ports are ephemeral, waits bounded."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
from cmppy.request import ConnectReq, SubmitReq, TerminateReq

from dispatch.channel import FailureKind, Outgoing, Receipt
from scheduler.clock import SHANGHAI
from service.app import sms_channel
from service.config import ConfigError, load_settings
from sms_gateway.cmpp import CmppChannel, CmppSettings
from tests.loopback import closed_port
from tests.recording_sink import RecordingSink
from tests.sms_gateway.ismg import CONNECT, SUBMIT, TERMINATE, Ismg

SP_CODE = "1069012345"
NOTICE = "D17 关于城区道路积水整治的督办事项已交办贵单位，请回复“收到”确认。"
LONG = NOTICE + "请按节点要求报送办理情况，逾期将按规定催办、督办并通报。" * 5
NOW = datetime(2026, 11, 23, 9, 30, 5, tzinfo=SHANGHAI)


async def eventually(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def settings(port: int, **changes: Any) -> CmppSettings:
    values: dict[str, Any] = dict(host="127.0.0.1", port=port, source_addr="901234",
                                  shared_secret="s3cret", sp_code=SP_CODE, service_id="DUBAN",
                                  reconnect_backoff_min=0.05, reconnect_backoff_max=0.1)
    return CmppSettings(**values | changes)


def outgoing(text: str = NOTICE) -> Outgoing:
    return Outgoing(1, "sms", "+8613800138000", text, kind="assigned", matter_code="D17")


@pytest.fixture
async def ismg() -> AsyncIterator[Ismg]:
    gateway = Ismg()
    await gateway.start()
    yield gateway
    await gateway.stop()


@pytest.fixture
async def pair(ismg: Ismg) -> AsyncIterator[tuple[Ismg, CmppChannel, RecordingSink]]:
    sink = RecordingSink()
    channel = CmppChannel(settings(ismg.port), sink, now=lambda: NOW)
    await channel.start()
    assert await channel.wait_connected(5)
    yield ismg, channel, sink
    await channel.stop()


async def test_connect_authenticates_with_md5_and_beijing_timestamp(pair) -> None:
    ismg, channel, _ = pair
    assert ismg.connects == [{"source": "901234", "version": 0x30, "timestamp": "1123093005",
                              "auth_ok": True}]
    assert channel.health()["connected"] and channel.concurrency == 16


@pytest.mark.parametrize("status, words", [
    (1, "message structure error"), (2, "illegal source address"),
    (3, "authentication failed"), (4, "version too high"), (9, "other error")])
async def test_each_connect_status_gives_a_clear_error(ismg: Ismg, status: int,
                                                       words: str) -> None:
    ismg.connect_status = status
    channel = CmppChannel(settings(ismg.port), RecordingSink())
    await channel.start()
    try:
        await eventually(lambda: channel.health()["last_error"])
        assert f"status {status}: {words}" in channel.health()["last_error"]
        await eventually(lambda: len(ismg.connects) >= 2)  # and it keeps trying, with backoff
        assert not channel.health()["connected"]
    finally:
        await channel.stop()


async def test_wrong_secret_is_refused_by_the_gateway(ismg: Ismg) -> None:
    channel = CmppChannel(settings(ismg.port, shared_secret="wrong"), RecordingSink())
    await channel.start()
    try:
        await eventually(lambda: channel.health()["last_error"])
        assert "status 3: authentication failed" in channel.health()["last_error"]
    finally:
        await channel.stop()


async def test_a_gateway_that_does_not_know_our_secret_is_not_trusted(ismg: Ismg) -> None:
    ismg.secret = "other"  # it accepts anything but cannot sign its answer with our secret
    channel = CmppChannel(settings(ismg.port, shared_secret="other"), RecordingSink())
    await channel.start()
    assert await channel.wait_connected(5)  # same secret: AuthenticatorISMG matches
    await channel.stop()


async def test_short_notice_is_one_ucs2_submit_with_receipt_requested(pair) -> None:
    ismg, channel, sink = pair
    result = await channel.send(outgoing())
    assert result.ok and len(result.provider_ids) == 1
    [submit] = ismg.submits
    assert submit["Msg_Fmt"] == 8 and submit["TP_udhi"] == 0
    assert submit["Msg_Content"].decode("utf-16-be") == NOTICE
    assert (submit["Pk_total"], submit["Pk_number"], submit["Registered_Delivery"]) == (1, 1, 1)
    assert submit["Msg_src"] == "901234" and submit["Src_Id"] == SP_CODE
    assert submit["Dest_terminal_Id"] == "13800138000" and submit["Service_Id"] == "DUBAN"
    # The status report of that Msg_Id comes back as a Receipt for the same provider id.
    ismg.report(bytes.fromhex(result.provider_ids[0]), "DELIVRD")
    await eventually(lambda: sink.receipts)
    assert sink.receipts[0] == Receipt("sms", result.provider_ids[0], "delivered",
                                       "stat:DELIVRD")
    await eventually(lambda: ismg.deliver_results)
    assert ismg.deliver_results[0][2] == 0


@pytest.mark.parametrize("stat, status", [("UNDELIV", "failed"), ("EXPIRED", "expired"),
                                          ("MK:0005", "failed")])
async def test_failed_status_reports(pair, stat: str, status: str) -> None:
    ismg, channel, sink = pair
    result = await channel.send(outgoing())
    ismg.report(bytes.fromhex(result.provider_ids[0]), stat)
    await eventually(lambda: sink.receipts)
    assert sink.receipts[0].status == status


async def test_long_notice_goes_in_udh_parts_that_reassemble(pair) -> None:
    ismg, channel, _ = pair
    result = await channel.send(outgoing(LONG))
    parts = ismg.submits
    assert len(parts) == len(result.provider_ids) == -(-len(LONG) // 67) == 3
    assert [(p["Pk_total"], p["Pk_number"], p["TP_udhi"]) for p in parts] == [
        (3, 1, 1), (3, 2, 1), (3, 3, 1)]
    udhs = {p["Msg_Content"][:6] for p in parts}
    assert {u[:3] for u in udhs} == {b"\x05\x00\x03"} and len({u[3] for u in udhs}) == 1
    assert all(len(p["Msg_Content"]) <= 140 for p in parts)
    text = b"".join(p["Msg_Content"][6:] for p in parts).decode("utf-16-be")
    assert text == LONG


async def test_replies_reach_the_sink_and_redelivery_keeps_its_msg_id(pair) -> None:
    ismg, _, sink = pair
    msg_id = ismg.deliver("D17 收到".encode("utf-16-be"))
    await eventually(lambda: sink.texts)
    ismg.deliver("D17 收到".encode("utf-16-be"), msg_id=msg_id)  # our answer got lost
    await eventually(lambda: len(sink.texts) == 2)
    first, again = sink.texts
    assert (first.sender, first.text, first.channel) == ("+8613800138000", "D17 收到", "sms")
    assert first.provider_message_id == again.provider_message_id == f"cmpp:{msg_id.hex()}"
    assert "extension" not in first.raw


async def test_gbk_and_multi_part_replies(pair) -> None:
    ismg, _, sink = pair
    ismg.deliver("1 进展 已完成排查".encode("gbk"), msg_fmt=15)
    body = "D17 进展 已组织人员对辖区内全部积水点逐一排查，制定整改方案。".encode("utf-16-be")
    ismg.deliver(b"\x05\x00\x03\x2a\x02\x02" + body[40:], udhi=1)  # part 2 first
    ismg.deliver(b"\x05\x00\x03\x2a\x02\x01" + body[:40], udhi=1)
    await eventually(lambda: len(sink.texts) == 2)
    assert sink.texts[0].text == "1 进展 已完成排查"
    assert sink.texts[1].text == body.decode("utf-16-be") and sink.texts[1].raw["parts"] == 2


async def test_sink_failure_answers_result_9_so_the_gateway_redelivers(pair) -> None:
    ismg, _, sink = pair
    sink.fail = True
    ismg.deliver("D17 收到".encode("utf-16-be"))
    await eventually(lambda: ismg.deliver_results)
    assert ismg.deliver_results[0][2] == 9


async def test_reply_to_an_extension_carries_it(pair) -> None:
    ismg, _, sink = pair
    ismg.deliver("收到".encode("utf-16-be"), dest=SP_CODE + "2")
    await eventually(lambda: sink.texts)
    assert sink.texts[0].raw["extension"] == "2"


async def test_notice_goes_out_from_the_extension_the_hook_names(ismg: Ismg) -> None:
    async def extension(message: Outgoing) -> str:
        return "3" if message.matter_code == "D17" else ""

    channel = CmppChannel(settings(ismg.port, extensions=True), RecordingSink(), extension_for=extension)
    await channel.start()
    assert await channel.wait_connected(5)
    assert (await channel.send(outgoing())).ok
    assert ismg.submits[0]["Src_Id"] == SP_CODE + "3"
    await channel.stop()


async def test_an_access_number_too_long_to_extend_goes_out_unextended(ismg: Ismg) -> None:
    async def extension(message: Outgoing) -> str:
        return "12"

    long_code = "1" * 20
    channel = CmppChannel(settings(ismg.port, extensions=True, sp_code=long_code), RecordingSink(),
                          extension_for=extension)
    await channel.start()
    assert await channel.wait_connected(5)
    assert (await channel.send(outgoing())).ok and ismg.submits[0]["Src_Id"] == long_code
    await channel.stop()


async def test_window_bounds_outstanding_submits(ismg: Ismg) -> None:
    channel = CmppChannel(settings(ismg.port, window=4), RecordingSink())
    await channel.start()
    assert await channel.wait_connected(5) and channel.concurrency == 4
    ismg.answer = lambda _: None  # hold every SUBMIT_RESP
    sends = [asyncio.create_task(channel.send(outgoing())) for _ in range(10)]
    await eventually(lambda: len(ismg.held) == 4)
    await asyncio.sleep(0.1)
    assert len(ismg.submits) == 4 and channel.health()["outstanding"] == 4
    ismg.answer = lambda _: 0
    ismg.release()
    results = await asyncio.gather(*sends)
    assert all(r.ok for r in results) and len(ismg.submits) == 10
    await channel.stop()


async def test_flow_control_is_throttling_and_other_results_are_permanent(pair) -> None:
    ismg, channel, _ = pair
    ismg.answer = lambda _: 8
    throttled = await channel.send(outgoing())
    assert throttled.failure is FailureKind.RETRYABLE and throttled.throttled
    assert throttled.retry_after == 1.0 and "flow control" in throttled.detail
    ismg.answer = lambda _: 13
    refused = await channel.send(outgoing())
    assert refused.failure is FailureKind.PERMANENT and "Dest_terminal_Id" in refused.detail


async def test_active_test_both_ways(ismg: Ismg) -> None:
    channel = CmppChannel(settings(ismg.port, active_test_interval=0.1), RecordingSink())
    await channel.start()
    assert await channel.wait_connected(5)
    await eventually(lambda: ismg.active_tests >= 2)  # ours, answered by the gateway
    ismg.active_test()
    await eventually(lambda: ismg.active_test_resps == 1)  # theirs, answered by us
    assert channel.health()["active_tests_sent"] >= 2
    await channel.stop()


async def test_terminate_on_stop_and_reconnect_after_theirs(pair) -> None:
    ismg, channel, _ = pair
    ismg.terminate()
    await eventually(lambda: len(ismg.connects) == 2)
    assert await channel.wait_connected(5) and channel.health()["reconnects"] == 1
    await channel.stop()
    assert ismg.terminates == 1


async def test_cmpp_2_gateway(ismg: Ismg) -> None:
    ismg.version = 0x20
    sink = RecordingSink()
    channel = CmppChannel(settings(ismg.port, version=0x20), sink)
    await channel.start()
    assert await channel.wait_connected(5)
    result = await channel.send(outgoing())  # parsed with 2.0's 21-octet numbers
    assert result.ok and ismg.submits[0]["Dest_terminal_Id"] == "13800138000"
    ismg.report(bytes.fromhex(result.provider_ids[0]), "DELIVRD")
    ismg.deliver("D17 收到".encode("utf-16-be"))
    await eventually(lambda: sink.receipts and sink.texts)
    assert sink.receipts[0].provider_message_id == result.provider_ids[0]
    assert sink.texts[0].text == "D17 收到"
    await channel.stop()


async def test_a_3_0_client_on_a_2_0_gateway_hears_version_too_high(ismg: Ismg) -> None:
    ismg.version = 0x20
    channel = CmppChannel(settings(ismg.port), RecordingSink())
    await channel.start()
    await eventually(lambda: channel.health()["last_error"])
    assert "version too high" in channel.health()["last_error"]
    await channel.stop()


async def test_cmppy_encodes_the_same_connect_and_submit(pair, monkeypatch) -> None:
    """cmppy (PyPI) writes CONNECT, SUBMIT and TERMINATE itself: its bytes must equal ours.
    (It has no encoder for the other messages; the ISMG's own decoder reads those.)"""
    ismg, channel, _ = pair
    # The package re-exports the class under the module's name; patch the module itself.
    module = sys.modules["cmppy.request.ConnectReq"]
    monkeypatch.setattr(module, "_get_strtime", lambda: "1123093005")
    assert ismg.raw[0] == (CONNECT, ConnectReq("901234", "s3cret").message[12:])
    short = "D17 收到，谢谢"
    await channel.send(outgoing(short))
    theirs = SubmitReq("901234", short, src_id=SP_CODE,
                       dest_terminal_id=["13800138000"], registered_delivery=1,
                       service_id="DUBAN", fee_usertype=0, feecode="000000",
                       valid_time="\0" * 17, at_time="\0" * 17)
    submits = [body for command, body in ismg.raw if command == SUBMIT]
    assert submits[-1] == theirs.message[12:]
    # The last part of a long message: cmppy takes text, so the UDH goes in as characters.
    long = "D17 " + "河道" * 40
    result = await channel.send(outgoing(long))
    assert len(result.provider_ids) == 2
    last = ismg.submits[-1]
    udh = last["Msg_Content"][:6]
    tail = (udh + long[67:].encode("utf-16-be")).decode("utf-16-be")
    theirs = SubmitReq("901234", tail, src_id=SP_CODE, dest_terminal_id=["13800138000"],
                       registered_delivery=1, service_id="DUBAN", fee_usertype=0,
                       feecode="000000", valid_time="\0" * 17, at_time="\0" * 17,
                       pk_total=2, pk_number=2, tp_udhi=1)
    submits = [body for command, body in ismg.raw if command == SUBMIT]
    assert submits[-1] == theirs.message[12:]
    await channel.stop()
    assert ismg.raw[-1] == (TERMINATE, TerminateReq().message[12:])


@pytest.mark.parametrize("section, words", [
    ({"source_addr": "12345"}, "sms.cmpp.source_addr: Value error, must be the 6-character"),
    ({"sp_code": "1069abc"}, "sms.cmpp.sp_code: Value error, must be 1-20 digits"),
    ({"shared_secret": ""}, "sms.cmpp.shared_secret: Value error, must be a non-empty"),
    ({"version": 0x31}, "sms.cmpp.version: Value error, must be 0x30"),
    ({"windw": 3}, "sms.cmpp.windw: Extra inputs are not permitted"),
])
def test_settings_errors_are_one_line(section: dict[str, Any], words: str) -> None:
    base = {"host": "127.0.0.1", "source_addr": "901234", "shared_secret": "s",
            "sp_code": SP_CODE}
    cfg = load_settings(sms={"provider": "cmpp", "signature": "", "cmpp": base | section})
    with pytest.raises(ConfigError) as caught:
        sms_channel(cfg, RecordingSink(), None, [], None)
    assert words in str(caught.value) and "\n" not in str(caught.value)


async def test_not_connected_is_retryable() -> None:
    channel = CmppChannel(settings(closed_port()), RecordingSink())
    await channel.start()
    result = await channel.send(outgoing())
    await channel.stop()
    assert result.failure is FailureKind.RETRYABLE and "not connected" in result.detail


async def test_a_connection_lost_awaiting_submit_resp_is_unknown_then_reconnects(pair) -> None:
    ismg, channel, _ = pair
    ismg.answer = lambda _: None
    send = asyncio.create_task(channel.send(outgoing()))
    await eventually(lambda: ismg.held)
    ismg.sessions[-1].writer.close()
    result = await send
    assert result.failure is FailureKind.UNKNOWN and "connection lost" in result.detail
    await eventually(lambda: len(ismg.connects) == 2)
    assert await channel.wait_connected(5)


async def test_an_incomplete_reply_is_handed_over_marked_after_the_timeout(ismg: Ismg) -> None:
    sink = RecordingSink()
    channel = CmppChannel(settings(ismg.port, mo_reassembly_timeout=0.2,
                                   active_test_interval=0.1), sink)
    await channel.start()
    assert await channel.wait_connected(5)
    ismg.deliver(b"\x05\x00\x03\x07\x02\x01" + "D17 进展 已".encode("utf-16-be"), udhi=1)
    await eventually(lambda: sink.texts)
    assert sink.texts[0].raw["incomplete"] is True and sink.texts[0].text == "D17 进展 已"
    await channel.stop()
