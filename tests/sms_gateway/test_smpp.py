"""SmppChannel against an SMSC this project did not write: the server in `smpp34`.

Where smpp34's server has no hook (it sends its own enquire_link only every 30 s), a
stub peer speaks through `smpplib`'s codec instead. A loopback relay stands in for a
network that drops or black-holes the connection. Ports are ephemeral, waits bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import smpp34
import smpplib.smpp
from pydantic import SecretStr

from dispatch.channel import Channel, FailureKind, InboundText, Outgoing, Receipt
from service.app import sms_channel
from service.config import ConfigError, Settings
from sms_gateway.smpp import SmppChannel, SmppSettings
from sms_gateway.smpp_inbound import MessageIds
from sms_gateway.smpp_pdu import HEADER, UDHI, PduError, read_pdu, split_udh
from sms_gateway.text import DEFAULT_SIGNATURE, count_segments

SOURCE = "10690357"
TO = "+8613800138000"
DEST = "8613800138000"  # TO as it goes on the wire: international TON, no "+"
NOTICE = "D17 关于城区道路积水整治的督办事项已交办贵单位，请于24小时内回复“1”确认收到。"
LONG_NOTICE = NOTICE + "请按节点要求报送办理情况，逾期将按规定催办、督办并通报。" * 4


def outgoing(text: str = NOTICE, to: str = TO, message_id: int = 1) -> Outgoing:
    return Outgoing(message_id, "sms", to, text, kind="assigned", matter_code="D17")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


class Smsc:
    """smpp34's SMSC on a loopback port; `answer` decides each submit_sm.

    `answer` returns a message id to accept, a command_status to reject, or None to
    hold the submit unanswered (see `release`).
    """

    def __init__(self) -> None:
        self.port = 0
        self.sessions: list[smpp34.Esme] = []
        self.submits: list[smpp34.SubmitSmEvent] = []
        self.held: list[smpp34.SubmitSmEvent] = []
        self.unbound: list[str] = []
        self.answer: Callable[[smpp34.SubmitSmEvent], str | int | None] = self.accept
        self._ids = itertools.count(1)

    def accept(self, _: smpp34.SubmitSmEvent) -> str:
        return f"msg-{next(self._ids)}"

    def hold(self, _: smpp34.SubmitSmEvent) -> None:
        return None

    async def start(self) -> None:
        for _ in range(5):  # another process may take the picked port first
            self.port = free_port()
            self._server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="SMSC")
            try:
                await self._server.start()
                break
            except smpp34.SmppError:
                continue
        self._pump = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
        await self._server.stop()

    async def _run(self) -> None:
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions.append(event)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.submits.append(event)
                self._decide(event)
            elif isinstance(event, smpp34.Unbound):
                self.unbound.append(event.session_id)

    def _decide(self, event: smpp34.SubmitSmEvent) -> None:
        decision = self.answer(event)
        if decision is None:
            self.held.append(event)
        elif isinstance(decision, str):
            event.accept(decision)
        else:
            event.reject(decision)

    def release(self) -> None:
        for event in self.held:
            event.accept(self.accept(event))
        self.held.clear()

    async def deliver(self, short_message: bytes, **fields: Any) -> smpp34.DeliverSmResp:
        """Push a deliver_sm from the handset DEST to our source number."""
        esme = self.sessions[-1]
        send = esme.deliver_sm(SOURCE, short_message, source_addr=DEST, **fields)
        return await asyncio.wait_for(send, 5)


class Relay:
    """A loopback TCP relay in front of the SMSC that can drop or black-hole connections."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._frozen: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._links.append((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer, writer),
            self._pipe(up_reader, writer, writer),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, to: asyncio.StreamWriter, link: asyncio.StreamWriter
    ) -> None:
        while data := await reader.read(65536):
            if link not in self._frozen:
                to.write(data)
        to.close()

    def cut(self) -> None:
        """Reset every current connection, as a crashed SMSC or NAT timeout would."""
        for client, upstream in self._links:
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    def freeze(self) -> None:
        """Silently drop all traffic on current connections; TCP itself stays up."""
        self._frozen.update(client for client, _ in self._links)

    async def close(self) -> None:
        self._server.close()
        self.cut()
        await self._server.wait_closed()


class RecordingSink:
    def __init__(self) -> None:
        self.inbound_texts: list[InboundText] = []
        self.receipts: list[Receipt] = []
        self.fail_next_inbound = 0

    async def inbound(self, message: InboundText) -> None:
        if self.fail_next_inbound:
            self.fail_next_inbound -= 1
            raise RuntimeError("database unavailable")
        self.inbound_texts.append(message)

    async def receipt(self, receipt: Receipt) -> None:
        self.receipts.append(receipt)


def settings(port: int, **overrides: Any) -> SmppSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": "duban",
        "password": "secret",
        "source_addr": SOURCE,
        "reconnect_backoff_min": 0.05,
        "reconnect_backoff_max": 0.2,
        "connect_timeout": 2.0,
        "submit_timeout": 5.0,
    }
    return SmppSettings(**(values | overrides))


Connect = Callable[..., Awaitable[SmppChannel]]


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    server = Smsc()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def relay(smsc: Smsc) -> AsyncIterator[Relay]:
    proxy = Relay(smsc.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def connect(smsc: Smsc, sink: RecordingSink) -> AsyncIterator[Connect]:
    channels: list[SmppChannel] = []

    async def make(port: int | None = None, **overrides: Any) -> SmppChannel:
        channel = SmppChannel(settings(port or smsc.port, **overrides), sink)
        channels.append(channel)
        sessions = len(smsc.sessions)
        await channel.start()
        assert await channel.wait_bound(5)
        await eventually(lambda: len(smsc.sessions) > sessions)  # the SMSC side saw it too
        return channel

    yield make
    for channel in channels:
        await channel.stop()


def reassemble(submits: list[smpp34.SubmitSmEvent]) -> tuple[int, str]:
    """What a handset would show: (concat ref, text), checking every UDH on the way."""
    headers, payloads = [], []
    for event in submits:
        assert event.esm_class & UDHI
        concat, payload = split_udh(event.short_message)
        assert concat is not None
        headers.append(concat)
        payloads.append(payload)
    assert {h.ref for h in headers} == {headers[0].ref}
    assert [h.total for h in headers] == [len(submits)] * len(submits)
    assert sorted(h.seq for h in headers) == list(range(1, len(submits) + 1))
    ordered = [p for _, p in sorted(zip((h.seq for h in headers), payloads, strict=True))]
    return headers[0].ref, b"".join(ordered).decode("utf-16-be")


def receipt_text(message_id: str, stat: str, err: str = "000") -> bytes:
    return (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2503030900 "
        f"done date:2503030901 stat:{stat} err:{err} text:D17"
    ).encode()


# -- bind and keepalive ------------------------------------------------------------


async def test_binds_as_transceiver_with_its_system_id(smsc: Smsc, connect: Connect) -> None:
    channel = await connect()
    assert isinstance(channel, Channel)
    assert channel.name == "sms"
    await eventually(lambda: len(smsc.sessions) == 1)
    assert smsc.sessions[0].system_id == "duban"
    assert smsc.sessions[0].can_receive  # a transceiver: receipts and replies come back
    health = channel.health()
    assert health["bound"] is True
    assert health["reconnects"] == 0
    assert health["outstanding"] == 0


async def test_keepalive_enquire_link_is_answered_by_the_smsc(connect: Connect) -> None:
    channel = await connect(enquire_link_interval=0.05)
    await eventually(lambda: channel.health()["enquire_link_acks"] >= 3)
    assert channel.health()["bound"] is True


async def test_answers_an_enquire_link_from_the_smsc(sink: RecordingSink) -> None:
    """smpp34's SMSC probes only every 30 s, so a stub peer speaking smpplib's codec asks."""
    seen: asyncio.Queue[Any] = asyncio.Queue()

    async def stub_smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bind = _smpplib_parse(await _read_raw(reader))
        await seen.put(bind)
        writer.write(_smpplib_pdu("bind_transceiver_resp", bind.sequence, system_id="STUB"))
        writer.write(_smpplib_pdu("enquire_link", 4242))
        await seen.put(_smpplib_parse(await _read_raw(reader)))
        await reader.read()  # hold the line until the channel unbinds or closes
        writer.close()

    server = await asyncio.start_server(stub_smsc, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = SmppChannel(settings(port), sink)
    await channel.start()
    try:
        bind = await asyncio.wait_for(seen.get(), 5)
        assert bind.command == "bind_transceiver"
        assert (bind.system_id, bind.password, bind.interface_version) == (
            b"duban",
            b"secret",
            0x34,
        )
        answer = await asyncio.wait_for(seen.get(), 5)
        assert (answer.command, answer.sequence, answer.status) == ("enquire_link_resp", 4242, 0)
        assert channel.health()["enquire_links_answered"] == 1
    finally:
        await channel.stop()
        server.close()
        await server.wait_closed()


async def test_link_that_stops_answering_enquire_link_is_dropped_and_rebound(
    smsc: Smsc, relay: Relay, connect: Connect
) -> None:
    channel = await connect(relay.port, enquire_link_interval=0.1)
    relay.freeze()
    await eventually(lambda: channel.health()["reconnects"] >= 1 and channel.health()["bound"])
    assert "enquire_link_resp" in channel.health()["last_error"]
    assert (await channel.send(outgoing())).ok


# -- outbound ----------------------------------------------------------------------


async def test_r36_chinese_notice_goes_as_one_signed_ucs2_submit_requesting_a_receipt(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect()
    result = await channel.send(outgoing())
    assert result.ok
    assert result.provider_ids == ("msg-1",)
    [submit] = smsc.submits
    assert submit.data_coding == 8
    assert submit.esm_class == 0
    assert submit.registered_delivery == 1
    assert (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi) == (DEST, 1, 1)
    assert submit.source_addr == SOURCE
    # R36: the matter code and how to reply survive intact, behind the signature.
    assert submit.short_message.decode("utf-16-be") == DEFAULT_SIGNATURE + NOTICE


async def test_long_chinese_notice_arrives_as_concatenated_segments(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect()
    signed = DEFAULT_SIGNATURE + LONG_NOTICE
    expected = count_segments(signed)
    assert expected == 3
    result = await channel.send(outgoing(LONG_NOTICE))
    assert result.ok
    assert result.provider_ids == ("msg-1", "msg-2", "msg-3")
    assert len(smsc.submits) == expected
    assert all(s.data_coding == 8 and s.registered_delivery == 1 for s in smsc.submits)
    assert all(len(s.short_message) <= 140 for s in smsc.submits)
    _, text = reassemble(smsc.submits)
    assert text == signed


async def test_each_long_message_gets_its_own_concat_reference(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect()
    await channel.send(outgoing(LONG_NOTICE, message_id=1))
    await channel.send(outgoing(LONG_NOTICE, message_id=2))
    first_ref, _ = reassemble(smsc.submits[:3])
    second_ref, _ = reassemble(smsc.submits[3:])
    assert first_ref != second_ref


async def test_latin_text_without_signature_goes_as_gsm7(smsc: Smsc, connect: Connect) -> None:
    channel = await connect(signature="")
    assert (await channel.send(outgoing("Reply 1 to confirm D17 [ok]"))).ok
    [submit] = smsc.submits
    assert submit.data_coding == 0
    assert submit.short_message == b"Reply 1 to confirm D17 \x1b<ok\x1b>"


async def test_invalid_number_fails_permanently_without_reaching_the_smsc(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect()
    result = await channel.send(outgoing(to="12345"))
    assert result.failure is FailureKind.PERMANENT
    assert "12345" in result.detail
    assert smsc.submits == []


@pytest.mark.parametrize(
    ("status", "kind", "retry_after"),
    [
        (smpp34.ESME_RTHROTTLED, FailureKind.RETRYABLE, 1.5),
        (smpp34.ESME_RMSGQFUL, FailureKind.RETRYABLE, 1.5),
        (smpp34.ESME_RSYSERR, FailureKind.RETRYABLE, None),
        (smpp34.ESME_RINVDSTADR, FailureKind.PERMANENT, None),
        (smpp34.ESME_RINVSRCADR, FailureKind.PERMANENT, None),
    ],
)
async def test_submit_errors_map_to_failure_kinds(
    smsc: Smsc, connect: Connect, status: int, kind: FailureKind, retry_after: float | None
) -> None:
    channel = await connect(throttled_retry_after=1.5, throttle_give_up=0)
    smsc.answer = lambda _: status
    result = await channel.send(outgoing())
    assert result.failure is kind
    assert result.retry_after == (retry_after and pytest.approx(retry_after, abs=0.1))
    assert result.throttled is (retry_after is not None)
    assert f"0x{status:02X}" in result.detail
    assert channel.health()["bound"] is True  # a refusal is no reason to drop the bind


async def test_a_refused_later_segment_keeps_the_ids_already_accepted(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect()
    smsc.answer = lambda _: "msg-1" if len(smsc.submits) == 1 else smpp34.ESME_RSYSERR
    result = await channel.send(outgoing(LONG_NOTICE))
    assert result.failure is FailureKind.RETRYABLE
    assert result.provider_ids == ("msg-1",)  # its receipt must still match
    assert result.detail.startswith("segment 2/3")
    assert len(smsc.submits) == 2  # stops at the first refusal


@pytest.mark.parametrize("binds", [1, 2])
async def test_window_caps_the_submits_awaiting_a_response_per_bind(
    smsc: Smsc, connect: Connect, binds: int
) -> None:
    """Issue 10: `binds` sessions each keep up to `window` submits outstanding, and the
    channel tells the dispatcher it may call send() window x binds times at once."""
    channel = await connect(window=2, binds=binds)
    assert channel.concurrency == 2 * binds
    await eventually(lambda: channel.health()["binds_up"] == binds == len(smsc.sessions))
    smsc.answer = smsc.hold
    sends = [asyncio.create_task(channel.send(outgoing(message_id=i))) for i in range(3 * binds)]
    await eventually(lambda: len(smsc.submits) == 2 * binds)
    await asyncio.sleep(0.1)
    assert len(smsc.submits) == 2 * binds
    assert channel.health()["outstanding"] == 2 * binds
    smsc.answer = smsc.accept
    smsc.release()
    results = await asyncio.wait_for(asyncio.gather(*sends), 5)
    assert all(r.ok for r in results)
    assert len({r.provider_ids for r in results}) == 3 * binds
    assert channel.health()["outstanding"] == 0


async def test_submit_without_response_is_unknown_after_the_timeout(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect(submit_timeout=0.2)
    smsc.answer = smsc.hold
    result = await channel.send(outgoing())
    assert result.failure is FailureKind.UNKNOWN
    assert "submit_sm_resp" in result.detail
    smsc.answer = smsc.accept
    smsc.release()  # the late answer is ignored; the session carries on
    assert (await channel.send(outgoing(message_id=2))).ok


async def test_dropped_connection_makes_in_flight_submits_unknown_and_reconnects(
    smsc: Smsc, relay: Relay, connect: Connect
) -> None:
    channel = await connect(relay.port)
    smsc.answer = smsc.hold
    sending = asyncio.create_task(channel.send(outgoing()))
    await eventually(lambda: len(smsc.held) == 1)
    relay.cut()
    result = await asyncio.wait_for(sending, 5)
    assert result.failure is FailureKind.UNKNOWN  # the SMSC may have it: never resend blindly
    await eventually(lambda: channel.health()["reconnects"] == 1 and channel.health()["bound"])
    smsc.answer = smsc.accept
    assert (await channel.send(outgoing(message_id=2))).ok
    assert len(smsc.sessions) == 2


async def test_send_while_not_connected_is_retryable(sink: RecordingSink) -> None:
    channel = SmppChannel(settings(free_port()), sink)  # nothing listens there
    await channel.start()
    try:
        result = await channel.send(outgoing())
        assert result.failure is FailureKind.RETRYABLE
        assert "not bound" in result.detail
        await eventually(lambda: (channel.health()["last_error"] or "").startswith("bind failed"))
        assert channel.health()["bound"] is False
    finally:
        await channel.stop()


async def test_stop_unbinds_and_later_sends_are_retryable(smsc: Smsc, connect: Connect) -> None:
    channel = await connect()
    await channel.stop()
    await eventually(lambda: len(smsc.unbound) == 1)
    assert (await channel.send(outgoing())).failure is FailureKind.RETRYABLE


async def test_unbind_from_the_smsc_is_answered_and_the_channel_rebinds(
    smsc: Smsc, connect: Connect
) -> None:
    channel = await connect()
    await asyncio.wait_for(smsc.sessions[0].unbind(), 5)
    await eventually(lambda: len(smsc.sessions) == 2 and channel.health()["bound"])
    assert (await channel.send(outgoing())).ok


# -- receipts ----------------------------------------------------------------------


async def test_receipts_are_matched_by_segment_id_and_final_state(
    smsc: Smsc, sink: RecordingSink, connect: Connect
) -> None:
    channel = await connect()
    first, second, third = (await channel.send(outgoing(LONG_NOTICE))).provider_ids
    await smsc.deliver(receipt_text(first, "DELIVRD"), esm_class=0x04)
    await smsc.deliver(receipt_text(second, "UNDELIV", err="012"), esm_class=0x04)
    await smsc.deliver(receipt_text(third, "ENROUTE"), esm_class=0x04)  # not final: dropped
    tlvs = [
        smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, third.encode() + b"\0"),
        smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x03"),
    ]
    resp = await smsc.deliver(b"", esm_class=0x04, tlvs=tlvs)
    assert resp.is_success
    assert sink.receipts == [
        Receipt("sms", first, "delivered", "stat:DELIVRD err:000"),
        Receipt("sms", second, "failed", "stat:UNDELIV err:012"),
        Receipt("sms", third, "expired", "stat:EXPIRED"),
    ]
    assert sink.inbound_texts == []  # receipts are never mistaken for replies


# -- replies (mobile originated) ---------------------------------------------------


async def test_r36_reply_reaches_the_sink_before_it_is_acked(
    smsc: Smsc, sink: RecordingSink, connect: Connect
) -> None:
    await connect()
    resp = await smsc.deliver("1 收到 D17".encode("utf-16-be"), data_coding=8)
    assert resp.is_success
    [reply] = sink.inbound_texts
    assert (reply.channel, reply.sender, reply.text) == ("sms", DEST, "1 收到 D17")
    assert reply.raw["destination_addr"] == SOURCE
    assert reply.raw["data_coding"] == 8


async def test_gsm7_reply_is_decoded(smsc: Smsc, sink: RecordingSink, connect: Connect) -> None:
    await connect()
    await smsc.deliver(b"OK D17 \x1b<1\x1b>", data_coding=0)
    assert [m.text for m in sink.inbound_texts] == ["OK D17 [1]"]


REPLY = "收到D17，已安排王科长负责处理，😀预计三天内完成整改并报送办理情况。" * 3


def _reply_parts(ref_ie: bytes | None) -> list[tuple[int, bytes]]:
    """REPLY cut into 3 parts at a byte offset that splits the emoji's surrogate pair."""
    data = REPLY.encode("utf-16-be")
    cut = REPLY.index("😀") * 2 + 2  # between the high and the low surrogate
    chunks = [data[:cut], data[cut : cut + 120], data[cut + 120 :]]
    if ref_ie is None:
        return list(enumerate(chunks, start=1))
    return [
        (seq, bytes((len(ref_ie) + 2,)) + ref_ie + bytes((3, seq)) + chunk)
        for seq, chunk in enumerate(chunks, start=1)
    ]


@pytest.mark.parametrize(
    "signal", ["udh-8bit-ref", "udh-16bit-ref", "sar-tlvs"], ids=lambda s: str(s)
)
async def test_r36_multipart_reply_is_reassembled_in_any_arrival_order(
    smsc: Smsc, sink: RecordingSink, connect: Connect, signal: str
) -> None:
    await connect()
    ref_ie = {"udh-8bit-ref": b"\x00\x03\x2a", "udh-16bit-ref": b"\x08\x04\x01\x2a"}.get(signal)
    parts = dict(_reply_parts(ref_ie))
    for seq in (2, 3, 1):
        if ref_ie is None:
            sar = [
                smpp34.Tlv(smpp34.TLV_SAR_MSG_REF_NUM, b"\x01\x2a"),
                smpp34.Tlv(smpp34.TLV_SAR_TOTAL_SEGMENTS, b"\x03"),
                smpp34.Tlv(smpp34.TLV_SAR_SEGMENT_SEQNUM, bytes((seq,))),
            ]
            resp = await smsc.deliver(parts[seq], data_coding=8, tlvs=sar)
        else:
            resp = await smsc.deliver(parts[seq], data_coding=8, esm_class=UDHI)
        assert resp.is_success
        assert len(sink.inbound_texts) == (1 if seq == 1 else 0)
    [reply] = sink.inbound_texts
    assert reply.text == REPLY
    assert reply.raw["segments"] == 3
    assert "incomplete" not in reply.raw


async def test_incomplete_multipart_reply_is_handed_over_after_the_timeout(
    smsc: Smsc, sink: RecordingSink, connect: Connect
) -> None:
    """R36: even a reply we cannot fully read must reach the service, to be answered."""
    channel = await connect(mo_reassembly_timeout=0.1)
    parts = dict(_reply_parts(b"\x00\x03\x07"))
    await smsc.deliver(parts[1], data_coding=8, esm_class=UDHI)
    assert channel.health()["mo_partials"] == 1
    await asyncio.sleep(0.2)
    await smsc.deliver("1".encode("utf-16-be"), data_coding=8)
    partial, single = sink.inbound_texts
    assert partial.raw["incomplete"] is True
    assert partial.raw["received"] == [1]
    assert REPLY.startswith(partial.text.rstrip("\ufffd"))
    assert single.text == "1"
    assert channel.health()["mo_partials"] == 0


async def test_incomplete_reply_on_a_quiet_line_is_handed_over_too(
    smsc: Smsc, sink: RecordingSink, connect: Connect
) -> None:
    channel = await connect(mo_reassembly_timeout=0.1, enquire_link_interval=0.05)
    parts = dict(_reply_parts(b"\x00\x03\x09"))
    await smsc.deliver(parts[3], data_coding=8, esm_class=UDHI)
    await eventually(lambda: len(sink.inbound_texts) == 1)
    assert sink.inbound_texts[0].raw["received"] == [3]
    assert sink.inbound_texts[0].raw["incomplete"] is True
    assert channel.health()["mo_partials"] == 0


async def test_sink_failure_naks_the_reply_so_the_smsc_redelivers(
    smsc: Smsc, sink: RecordingSink, connect: Connect
) -> None:
    await connect()
    sink.fail_next_inbound = 1
    first = await smsc.deliver("收到".encode("utf-16-be"), data_coding=8)
    assert first.command_status == 0x64  # ESME_RX_T_APPN: temporary, try again
    again = await smsc.deliver("收到".encode("utf-16-be"), data_coding=8)
    assert again.is_success
    assert [m.text for m in sink.inbound_texts] == ["收到"]


async def test_a_pdu_claiming_an_absurd_length_is_refused_not_buffered() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(HEADER.pack(10**9, 0x80000004, 0, 1))
    with pytest.raises(PduError, match="command_length"):
        await read_pdu(reader)


# -- smpplib as an independent codec for the stub SMSC ------------------------------


class _Sequencer:
    """smpplib's codec insists on a client that hands out sequence numbers."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def _smpplib_pdu(command: str, sequence: int, **fields: Any) -> bytes:
    pdu = smpplib.smpp.make_pdu(command, client=_Sequencer(), **fields)
    pdu.sequence = sequence
    return pdu.generate()


def _smpplib_parse(data: bytes) -> Any:
    return smpplib.smpp.parse_pdu(data, client=_Sequencer())


async def _read_raw(reader: asyncio.StreamReader) -> bytes:
    header = await asyncio.wait_for(reader.readexactly(4), 5)
    return header + await reader.readexactly(int.from_bytes(header, "big") - 4)


# -- issue 8: settings and a task that never dies silently ------------------------


BASE_SECTION = {"host": "127.0.0.1", "system_id": "duban", "password": "secret",
                "source_addr": SOURCE}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("password", "密码"),
        ("password", "123456789"),
        ("system_id", "d" * 16),
        ("system_id", "dūban"),
        ("system_type", "t" * 13),
        ("source_addr", "1" * 21),
    ],
)
def test_settings_refuse_what_a_bind_cannot_encode(field: str, value: str) -> None:
    """Issue 8 item 14: start-up refuses with one line naming the field (and not its value)."""
    config = Settings(sms={"provider": "smpp", "smpp": BASE_SECTION | {field: value}})
    with pytest.raises(ConfigError) as refused:
        sms_channel(config, RecordingSink(), None, [], None)  # type: ignore[arg-type]
    line = str(refused.value)
    assert line.startswith(f"invalid setting sms.smpp.{field}:")
    assert "\n" not in line and value not in line


async def test_a_crashing_bind_task_is_logged_shown_in_health_and_retried(
    smsc: Smsc, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8 item 14: an unexpected error in the bind task (here a password no validation
    let through) is logged, shown in health() without the secret, and the bind retried."""
    bad = settings(smsc.port).model_copy(update={"password": SecretStr("密码")})
    channel = SmppChannel(bad, sink)
    await channel.start()
    try:
        await eventually(lambda: channel.health()["crashes"] >= 2)
        health = channel.health()
        assert health["bound"] is False
        assert health["last_error"].startswith("bind 1 crashed: UnicodeEncodeError")
        assert "密码" not in health["last_error"]
        assert any("crashed" in r.getMessage() for r in caplog.records)
        assert "密码" not in caplog.text
    finally:
        await channel.stop()


# -- issue 8 item 9: one id, two spellings -------------------------------------------


async def test_hex_submit_id_matches_a_receipt_spelling_it_in_decimal(
    smsc: Smsc, sink: RecordingSink, connect: Connect
) -> None:
    """Issue 8 item 9: submit_sm_resp says 1A2B3C0B, the receipt id:0439041035."""
    channel = await connect()
    smsc.answer = lambda _: "1A2B3C0B"
    result = await channel.send(outgoing())
    assert result.provider_ids[0] == "1A2B3C0B"  # the SMSC's own spelling stays visible
    await smsc.deliver(receipt_text("0439041035", "DELIVRD"), esm_class=0x04)
    await smsc.deliver(receipt_text("1a2b3c0b", "DELIVRD"), esm_class=0x04)  # either case
    assert [r.provider_message_id in result.provider_ids for r in sink.receipts] == [True, True]


@pytest.mark.parametrize(
    ("submit_base", "receipt_base", "submitted", "reported", "match"),
    [
        ("auto", "auto", "msg-1", "msg-1", True),
        ("auto", "auto", "12345", "0000012345", True),
        ("auto", "auto", "1A2B3C0B", "1a2b3c0b", True),
        ("auto", "auto", "10203040", "10203040", True),  # hex both ways: read alike
        ("auto", "auto", "10203040", "0270544960", False),  # letterless hex: configure it
        ("hex", "auto", "10203040", "0270544960", True),
        ("hex", "hex", "10203040", "10203040", True),
        ("decimal", "decimal", "1A2B3C0B", "1A2B3C0B", True),
    ],
)
def test_id_spellings_by_configured_base(
    submit_base: str, receipt_base: str, submitted: str, reported: str, match: bool
) -> None:
    """Issue 8 item 9: which submit/receipt spellings meet, per submit_/receipt_id_base."""
    ids = MessageIds(submit_base, receipt_base)  # type: ignore[arg-type]
    assert (ids.receipt_id(reported) in ids.spellings(submitted)) is match


def test_a_numeric_spelling_never_equals_an_id_the_smsc_issued() -> None:
    """Issue 8 item 9: the "#" keeps the decimal spelling of one message's hex id apart from
    another message's literal id, so the receipt index never merges two messages."""
    ids = MessageIds("hex", "auto")
    assert not set(ids.spellings("1A")) & set(ids.spellings("26"))


# -- issue 8 items 10 and 11: throttling -------------------------------------------


def throttle_submits(smsc: Smsc, numbers: set[int]) -> None:
    """Throttle the n-th submit_sm (1-based) for each n in `numbers`, accept the rest."""
    smsc.answer = lambda event: (
        smpp34.ESME_RTHROTTLED if len(smsc.submits) in numbers else smsc.accept(event)
    )


async def test_throttled_part_is_resent_alone_under_the_same_reference(
    smsc: Smsc, connect: Connect
) -> None:
    """Issue 8 item 10: part 2 throttled -> only part 2 again, after the pause, same ref."""
    channel = await connect(throttled_retry_after=0.05)
    throttle_submits(smsc, {2})
    result = await channel.send(outgoing(LONG_NOTICE))
    assert result.ok
    assert result.provider_ids == ("msg-1", "msg-2", "msg-3")
    first, throttled, again, third = smsc.submits
    assert throttled.short_message == again.short_message  # same UDH: ref, total, seq 2
    _, text = reassemble([first, again, third])
    assert text == DEFAULT_SIGNATURE + LONG_NOTICE
    assert channel.health()["throttled"] == 1


async def test_a_resumed_long_message_sends_only_its_missing_parts(
    smsc: Smsc, connect: Connect
) -> None:
    """Issue 8 item 10: when the channel gives up on part 2, a later send of the same message
    (Outgoing.sent_parts = the ids it returned) sends parts 2 and 3 only, same reference."""
    channel = await connect(throttled_retry_after=0.05, throttle_give_up=0.2)
    throttle_submits(smsc, set(range(2, 100)))
    stopped = await channel.send(outgoing(LONG_NOTICE, message_id=7))
    assert stopped.failure is FailureKind.RETRYABLE and stopped.throttled
    assert stopped.provider_ids == ("msg-1",)
    first = smsc.submits[0]
    smsc.submits.clear()
    smsc.answer = smsc.accept
    resumed = await channel.send(replace(outgoing(LONG_NOTICE, message_id=7),
                                         sent_parts=stopped.provider_ids))
    assert resumed.ok
    assert resumed.provider_ids == ("msg-1", "msg-2", "msg-3")
    assert len(smsc.submits) == 2
    _, text = reassemble([first, *smsc.submits])  # one reference across both attempts
    assert text == DEFAULT_SIGNATURE + LONG_NOTICE


async def test_sustained_throttling_pauses_the_bind_and_fails_nothing(
    smsc: Smsc, connect: Connect
) -> None:
    """Issue 8 item 11: ~1.5 s of ESME_RTHROTTLED (the field's 15 s, scaled down): every
    sender on the bind waits out one growing pause, and every message is sent."""
    channel = await connect(window=5, throttled_retry_after=0.05, throttle_pause_max=0.4)
    loop = asyncio.get_running_loop()
    until = loop.time() + 1.5
    smsc.answer = lambda e: smpp34.ESME_RTHROTTLED if loop.time() < until else smsc.accept(e)
    results = await asyncio.wait_for(
        asyncio.gather(*(channel.send(outgoing(message_id=i)) for i in range(20))), 10
    )
    assert all(r.ok for r in results)
    refused = len(smsc.submits) - 20
    health = channel.health()
    # One pause per throttle in a row (0.05, 0.1, 0.2, 0.4, 0.4 ...), not one per submit:
    # a fixed pause would throttle ~30 times, each sender on its own some 30 x 5.
    assert 3 <= health["throttled"] <= 8
    assert refused <= 5 * health["throttled"]  # at most the window each time
    assert health["paused"] is False


async def test_throttling_past_the_give_up_time_is_handed_back_as_throttled(
    smsc: Smsc, connect: Connect
) -> None:
    """Issue 8 item 11: the channel stops waiting after throttle_give_up and says so, with
    when to come back, so the dispatcher retries without counting an attempt."""
    channel = await connect(throttled_retry_after=0.05, throttle_pause_max=0.1,
                            throttle_give_up=0.3)
    smsc.answer = lambda _: smpp34.ESME_RTHROTTLED
    result = await channel.send(outgoing())
    assert (result.failure, result.throttled) == (FailureKind.RETRYABLE, True)
    assert result.retry_after is not None and 0 < result.retry_after <= 0.1
    assert len(smsc.submits) >= 3  # it did wait and try again meanwhile


# -- issue 10: the window over several binds, concurrent sends ---------------------


async def test_responses_in_any_order_reach_their_own_send(
    smsc: Smsc, connect: Connect
) -> None:
    """Issue 10: submit_sm_resp are matched by sequence number, not by arrival order."""
    channel = await connect(window=5, signature="")
    smsc.answer = smsc.hold
    texts = [f"Reply 1 to D{n}" for n in range(5)]
    sends = [asyncio.create_task(channel.send(outgoing(t, message_id=i)))
             for i, t in enumerate(texts)]
    await eventually(lambda: len(smsc.held) == 5)
    for event in reversed(smsc.held):
        event.accept("id-" + event.short_message.decode())
    results = await asyncio.wait_for(asyncio.gather(*sends), 5)
    assert [r.provider_ids for r in results] == [(f"id-{t}",) for t in texts]


async def test_unbind_with_sends_outstanding_and_queued(smsc: Smsc, connect: Connect) -> None:
    """Issue 10: on a lost bind, a submit on the wire is UNKNOWN (the SMSC may have it);
    one still waiting for the window is RETRYABLE (it certainly does not)."""
    channel = await connect(window=1)
    smsc.answer = smsc.hold
    on_the_wire = asyncio.create_task(channel.send(outgoing(message_id=1)))
    await eventually(lambda: len(smsc.held) == 1)
    queued = asyncio.create_task(channel.send(outgoing(message_id=2)))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(smsc.sessions[0].unbind(), 5)
    first, second = await asyncio.wait_for(asyncio.gather(on_the_wire, queued), 5)
    assert first.failure is FailureKind.UNKNOWN
    assert second.failure is FailureKind.RETRYABLE
    assert len(smsc.submits) == 1
    await eventually(lambda: channel.health()["bound"])
    smsc.answer = smsc.accept
    assert (await channel.send(outgoing(message_id=3))).ok


async def test_generic_nack_answers_a_submit(sink: RecordingSink) -> None:
    """A generic_nack in place of a submit_sm_resp (smpplib's codec on the SMSC side):
    matched by sequence, permanent for a PDU the SMSC could not take, a throttle for 0x58;
    one for sequence 0 (the SMSC could not even read ours) is ignored and the bind kept."""
    statuses = iter([0x03, 0x58])

    async def stub_smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bind = _smpplib_parse(await _read_raw(reader))
        writer.write(_smpplib_pdu("bind_transceiver_resp", bind.sequence, system_id="STUB"))
        writer.write(_smpplib_nack(0, 0x01))  # for no request of ours
        while True:
            submit = _smpplib_parse(await _read_raw(reader))
            writer.write(_smpplib_nack(submit.sequence, next(statuses, 0x58)))

    server = await asyncio.start_server(stub_smsc, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = SmppChannel(settings(port, throttle_give_up=0), sink)
    await channel.start()
    try:
        assert await channel.wait_bound(5)
        refused = await channel.send(outgoing())
        assert refused.failure is FailureKind.PERMANENT
        assert "generic_nack status 0x03" in refused.detail
        throttled = await channel.send(outgoing(message_id=2))
        assert (throttled.failure, throttled.throttled) == (FailureKind.RETRYABLE, True)
        assert channel.health()["bound"] is True
        assert channel.health()["reconnects"] == 0
    finally:
        await channel.stop()
        server.close()
        await server.wait_closed()


def _smpplib_nack(sequence: int, status: int) -> bytes:
    pdu = smpplib.smpp.make_pdu("generic_nack", client=_Sequencer())
    pdu.sequence, pdu.status = sequence, status
    return pdu.generate()


class SlowSink(RecordingSink):
    """A sink that takes nothing until released: the SMSC delivers faster than it stores."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def inbound(self, message: InboundText) -> None:
        await self.release.wait()
        await super().inbound(message)


async def test_a_full_inbound_queue_defers_deliver_sm_and_loses_nothing(smsc: Smsc) -> None:
    """Issue 10 (soak: flat memory): deliver_sm beyond `inbound_queue` waiting on a bind are
    answered ESME_RX_T_APPN at once, so the SMSC redelivers them later; the queued ones are
    all handed over, in order, once the sink takes them."""
    sink = SlowSink()
    channel = SmppChannel(settings(smsc.port, inbound_queue=3), sink)
    await channel.start()
    texts = [f"D{n} 收到" for n in range(1, 7)]
    try:
        assert await channel.wait_bound(5)
        await eventually(lambda: bool(smsc.sessions))
        esme = smsc.sessions[-1]
        sends = []
        for text in texts:  # one after another on the wire, none waiting for its answer
            sends.append(asyncio.ensure_future(esme.deliver_sm(
                SOURCE, text.encode("utf-16-be"), source_addr=DEST, data_coding=8)))
            await asyncio.sleep(0.02)
        # Three wait in the queue (a fourth may be in the sink already): the rest come back
        # at once, before the sink has taken anything.
        await eventually(lambda: channel.deliver_sm_deferred >= 2)
        assert sink.inbound_texts == []
        sink.release.set()
        answers = [r.command_status for r in await asyncio.wait_for(asyncio.gather(*sends), 5)]
        taken = answers.count(0)
        assert answers == [0] * taken + [0x64] * (6 - taken) and taken in (3, 4)
        assert channel.health()["deliver_sm_deferred"] == 6 - taken
        for text in texts[taken:]:  # the SMSC redelivers what it was told to
            assert (await smsc.deliver(text.encode("utf-16-be"), data_coding=8)).is_success
        assert [m.text for m in sink.inbound_texts] == texts
    finally:
        await channel.stop()
