"""Two `duban serve` instances on one PostgreSQL database share the due rows: each message
is delivered exactly once and both instances do part of the work (SKIP LOCKED claims).

PostgreSQL only: SQLite is a single-instance deployment.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import TEST_DATABASE
from tests.dispatch.support import (
    Probe,
    Server,
    start_server,
    stop_all,
    until,
    with_seeded_servers,
)

ROWS = 500
INSTANCES = ("duban-a", "duban-b")

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE.startswith(("postgres", "asyncpg", "psql")),
    reason="two instances need PostgreSQL (DUBAN_TEST_DATABASE)")


async def test_two_instances_deliver_every_message_exactly_once(tmp_path) -> None:
    await with_seeded_servers("postgres", tmp_path, "duban_two", ROWS, check_two_instances)


async def check_two_instances(probe: Probe, url: str, tmp_path, servers: list[Server],
                        ids: set[int]) -> None:
    started = time.monotonic()
    servers += [start_server(name, url, tmp_path) for name in INSTANCES]

    async def all_done() -> bool:
        for server in servers:
            assert server.alive(), f"{server.name} died"
        return await probe.in_flight() == 0

    await until(all_done, timeout=120, interval=0.2, progress=probe.statuses,
                what="every row sent by two instances")
    elapsed = time.monotonic() - started
    # What they logged while sending (stopping may cut a tick short, which is not our case).
    logs = "".join(server.log.read_text(encoding="utf-8", errors="replace")
                   for server in servers)
    stop_all(servers)

    assert await probe.statuses() == {"submitted": ROWS}
    deliveries = await probe.rows("SELECT message_id, count(*) FROM dev_delivery "
                                  "GROUP BY message_id")
    assert {m for m, _ in deliveries} == ids and all(n == 1 for _, n in deliveries)

    # DevDelivery's unique message id would hide a second send; the history would not.
    events = await probe.events()
    twice = {m: e for m, e in events.items() if [s for s, _ in e].count("sending") != 1}
    assert not twice, list(twice.items())[:5]
    for message_id in ids:  # a wait for the SMS rate limit is a step of its own
        steps = [s for s, d in events[message_id] if not d.startswith("rate limited")]
        assert steps == ["pending", "sending", "submitted"], events[message_id]
    assert "was delivered before" not in logs  # no duplicate swallowed by the channel
    assert "IntegrityError" not in logs
    assert "Traceback" not in logs

    workers = dict(await probe.rows(
        "SELECT claimed_by, count(*) FROM outbound_message GROUP BY claimed_by"))
    assert set(workers) == set(INSTANCES), workers
    assert all(workers[name] > 0 for name in INSTANCES), workers
    print(f"\n{ROWS} rows, two instances: all delivered once in {elapsed:.1f} s; "
          f"by instance {workers}")
