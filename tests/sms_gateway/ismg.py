"""A loopback ISMG (carrier SMS gateway) speaking CMPP 3.0 / 2.0, written for the tests from
the specification (中国移动通信互联网短信网关接口协议 CMPP V3.0, sections 6-7) with its own
field tables: it does not import the adapter's codec, so the two can disagree.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONNECT, TERMINATE, SUBMIT, DELIVER, ACTIVE_TEST = 0x1, 0x2, 0x4, 0x5, 0x8
RESP = 0x80000000


def submit_fields(version: int) -> list[tuple[str, int | str]]:
    """CMPP_SUBMIT's (name, size) in wire order; "n" is Msg_Length octets, "dest" is
    DestUsr_tl numbers. 2.0 has 21-octet numbers, no *_terminal_type, 8 reserved octets."""
    phone = 32 if version == 0x30 else 21
    table: list[tuple[str, int | str]] = [
        ("Msg_Id", 8), ("Pk_total", 1), ("Pk_number", 1), ("Registered_Delivery", 1),
        ("Msg_level", 1), ("Service_Id", 10), ("Fee_UserType", 1),
        ("Fee_terminal_Id", phone), ("Fee_terminal_type", 1), ("TP_pId", 1),
        ("TP_udhi", 1), ("Msg_Fmt", 1), ("Msg_src", 6), ("FeeType", 2), ("FeeCode", 6),
        ("ValId_Time", 17), ("At_Time", 17), ("Src_Id", 21), ("DestUsr_tl", 1),
        ("Dest_terminal_Id", "dest"), ("Dest_terminal_type", 1), ("Msg_Length", 1),
        ("Msg_Content", "n"), ("LinkID", 20),
    ]
    if version == 0x30:
        return table
    v2 = [f for f in table if f[0] not in {"Fee_terminal_type", "Dest_terminal_type", "LinkID"}]
    return [*v2, ("Reserve", 8)]


def parse_submit(body: bytes, version: int) -> dict[str, Any]:
    phone = 32 if version == 0x30 else 21
    out: dict[str, Any] = {}
    at = 0
    for name, size in submit_fields(version):
        if size == "dest":
            n = out["DestUsr_tl"] * phone
        elif size == "n":
            n = out["Msg_Length"]
        else:
            n = size
        chunk = body[at : at + n]
        assert len(chunk) == n, f"{name}: body ends early"
        at += n
        if n == 1 and name != "Msg_Content":
            out[name] = chunk[0]
        elif name in ("Msg_Content", "Msg_Id"):
            out[name] = chunk
        else:
            out[name] = chunk.rstrip(b"\0").decode("ascii")
    assert at == len(body), f"{len(body) - at} octets after the last field"
    return out


def pad(text: str, size: int) -> bytes:
    return text.encode("ascii") + b"\0" * (size - len(text))


@dataclass
class Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    version: int = 0x30

    def write(self, command: int, sequence: int, body: bytes = b"") -> None:
        self.writer.write(struct.pack("!LLL", 12 + len(body), command, sequence) + body)


class Ismg:
    """Accepts one SP (`source_addr`, `secret`); records what it receives.

    `connect_status` answers CONNECT; `answer(submit) -> int | None` gives SUBMIT's Result
    (None holds the response until `release()`).
    """

    def __init__(self, source_addr: str = "901234", secret: str = "s3cret",
                 version: int = 0x30) -> None:
        self.source_addr = source_addr
        self.secret = secret
        self.version = version  # the highest version this gateway speaks
        self.connect_status = 0
        self.connects: list[dict[str, Any]] = []
        self.submits: list[dict[str, Any]] = []
        self.raw: list[tuple[int, bytes]] = []  # every request the client wrote
        self.deliver_results: list[tuple[int, bytes, int]] = []  # sequence, msg_id, Result
        self.active_tests = 0
        self.active_test_resps = 0
        self.terminates = 0
        self.answer: Callable[[dict[str, Any]], int | None] = lambda _: 0
        self.held: list[tuple[Session, int, bytes]] = []
        self.sessions: list[Session] = []
        self._ids = itertools.count(1)
        self._seq = itertools.count(1000)
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for s in self.sessions:
            s.writer.close()
        self._server.close()
        await self._server.wait_closed()

    def new_msg_id(self) -> bytes:
        # MMDDHHMMSS (4+5+5+6+6 bits), gateway code (22 bits), sequence (16 bits).
        n = next(self._ids)
        time_bits = (11 << 22) | (23 << 17) | (9 << 12) | (0 << 6) | 0
        return struct.pack("!Q", (time_bits << 38) | (123456 << 16) | n)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer)
        self.sessions.append(session)
        try:
            while True:
                length, command, sequence = struct.unpack("!LLL", await reader.readexactly(12))
                body = await reader.readexactly(length - 12)
                self._handle(session, command, sequence, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _handle(self, s: Session, command: int, sequence: int, body: bytes) -> None:
        if not command & RESP:
            self.raw.append((command, body))
        if command == CONNECT:
            self._connect(s, sequence, body)
        elif command == SUBMIT:
            submit = parse_submit(body, s.version)
            self.submits.append(submit)
            result = self.answer(submit)
            if result is None:
                self.held.append((s, sequence, body))
            else:
                self._submit_resp(s, sequence, result)
        elif command == ACTIVE_TEST:
            self.active_tests += 1
            s.write(ACTIVE_TEST | RESP, sequence, b"\0")
        elif command == TERMINATE:
            self.terminates += 1
            s.write(TERMINATE | RESP, sequence)
        elif command == DELIVER | RESP:
            size = 4 if s.version == 0x30 else 1
            self.deliver_results.append((sequence, body[:8], int.from_bytes(body[8:8 + size])))
        elif command == ACTIVE_TEST | RESP:
            self.active_test_resps += 1

    def _connect(self, s: Session, sequence: int, body: bytes) -> None:
        src, auth, version, timestamp = struct.unpack("!6s16sBL", body)
        stamp = f"{timestamp:010d}"
        expected = hashlib.md5(
            src + b"\0" * 9 + self.secret.encode() + stamp.encode()).digest()
        self.connects.append({"source": src.decode(), "version": version, "timestamp": stamp,
                              "auth_ok": auth == expected})
        status = self.connect_status
        if not status and src.decode() != self.source_addr:
            status = 2
        elif not status and auth != expected:
            status = 3
        elif not status and version > self.version:
            status = 4
        s.version = 0x30 if version == 0x30 else 0x20
        packed = struct.pack("!L" if s.version == 0x30 else "!B", status)
        ismg_auth = hashlib.md5(packed + auth + self.secret.encode()).digest()
        s.write(CONNECT | RESP, sequence, packed + ismg_auth + bytes((self.version,)))
        if status:
            s.writer.close()

    def _submit_resp(self, s: Session, sequence: int, result: int) -> None:
        size = "!L" if s.version == 0x30 else "!B"
        s.write(SUBMIT | RESP, sequence, self.new_msg_id() + struct.pack(size, result))

    def release(self) -> None:
        for s, sequence, _ in self.held:
            self._submit_resp(s, sequence, 0)
        self.held.clear()

    def deliver(self, content: bytes, *, src: str = "8613800138000", dest: str = "1069012345",
                msg_fmt: int = 8, udhi: int = 0, report: bool = False,
                msg_id: bytes | None = None) -> bytes:
        """Push a CMPP_DELIVER on the latest session; returns its Msg_Id."""
        s = self.sessions[-1]
        phone = 32 if s.version == 0x30 else 21
        msg_id = msg_id or self.new_msg_id()
        body = (msg_id + pad(dest, 21) + pad("", 10) + bytes((0, udhi, msg_fmt))
                + pad(src, phone) + (b"\0" if s.version == 0x30 else b"")
                + bytes((1 if report else 0, len(content))) + content
                + b"\0" * (20 if s.version == 0x30 else 8))
        s.write(DELIVER, next(self._seq), body)
        return msg_id

    def report(self, msg_id: bytes, stat: str, dest: str = "13800138000") -> None:
        phone = 32 if self.sessions[-1].version == 0x30 else 21
        content = (msg_id + pad(stat, 7) + b"2611230900" + b"2611230901" + pad(dest, phone)
                   + struct.pack("!L", 7))
        self.deliver(content, report=True, msg_fmt=0)

    def active_test(self) -> None:
        self.sessions[-1].write(ACTIVE_TEST, next(self._seq))

    def terminate(self) -> None:
        self.sessions[-1].write(TERMINATE, next(self._seq))
