"""Shared helpers for the HTTP SMS provider tests: a recording sink; the loopback server
lives in tests/loopback.py."""

from __future__ import annotations

from dispatch.channel import InboundText, Receipt
from tests.loopback import closed_port, serve

__all__ = ["RecordingSink", "closed_port", "serve"]


class RecordingSink:
    """Keeps what the webhooks hand over; `fail` makes it raise like a broken store."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.inbound_texts: list[InboundText] = []
        self.receipts: list[Receipt] = []

    async def inbound(self, message: InboundText) -> None:
        if self.fail:
            raise RuntimeError("store is down")
        self.inbound_texts.append(message)

    async def receipt(self, receipt: Receipt) -> None:
        if self.fail:
            raise RuntimeError("store is down")
        self.receipts.append(receipt)

    @property
    def untouched(self) -> bool:
        return not self.inbound_texts and not self.receipts
