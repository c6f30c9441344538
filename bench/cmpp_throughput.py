"""Push Chinese notices through CmppChannel to the test ISMG on loopback; report the rate.

    .venv/bin/python bench/cmpp_throughput.py [--count 20000] [--window 16]

The ISMG (tests/sms_gateway/ismg.py, written from the CMPP spec) runs in a child process,
so the figure is the channel's own work: encoding, the window, matching SUBMIT_RESPs.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatch.channel import InboundText, Outgoing, Receipt  # noqa: E402
from sms_gateway.cmpp import CmppChannel, CmppSettings  # noqa: E402

TEXT = "{code} 关于城区道路积水整治的督办事项已交办贵单位，请于24小时内回复“收到”确认。"


class Discard:
    async def inbound(self, message: InboundText) -> None: ...

    async def receipt(self, receipt: Receipt) -> None: ...


async def gateway() -> None:
    """Child: run the ISMG and print its port."""
    from tests.sms_gateway.ismg import Ismg

    ismg = Ismg()
    await ismg.start()
    print(ismg.port, flush=True)
    await asyncio.Event().wait()


async def sender(channel: CmppChannel, backlog: list[Outgoing], failed: list[str]) -> None:
    while backlog:
        outcome = await channel.send(backlog.pop())
        if not outcome.ok:
            failed.append(outcome.detail)


async def measure(count: int, window: int, port: int) -> None:
    settings = CmppSettings(host="127.0.0.1", port=port, source_addr="901234",
                            shared_secret="s3cret", sp_code="1069012345", window=window,
                            signature="【督办】")
    channel = CmppChannel(settings, Discard())
    await channel.start()
    if not await channel.wait_connected(10):
        raise SystemExit(f"could not connect: {channel.health()['last_error']}")
    backlog = [Outgoing(i, "sms", f"+86139{i % 5000:08d}", TEXT.format(code=f"D{i % 900}"),
                        "assigned") for i in range(count)]
    failed: list[str] = []
    started = time.perf_counter()
    # More senders than window slots, as a dispatcher with a backlog would have.
    await asyncio.gather(*(sender(channel, backlog, failed) for _ in range(window * 4)))
    elapsed = time.perf_counter() - started
    await channel.stop()
    print(f"messages:   {count} (one UCS-2 part each), window {window}")
    print(f"failed:     {len(failed)}{' e.g. ' + failed[0] if failed else ''}")
    print(f"elapsed:    {elapsed:.2f} s")
    print(f"throughput: {count / elapsed:,.0f} CMPP_SUBMIT/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--gateway", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gateway:
        asyncio.run(gateway())
        return
    child = subprocess.Popen([sys.executable, __file__, "--gateway"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        asyncio.run(measure(args.count, args.window, int(child.stdout.readline())))
    finally:
        child.terminate()
        child.wait(5)


if __name__ == "__main__":
    main()
