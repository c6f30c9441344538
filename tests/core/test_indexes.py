"""The indexes the hot reads rely on exist in a migrated database, on both databases."""

from __future__ import annotations

from tortoise import Tortoise


async def indexed_columns(table: str) -> set[str]:
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "postgres":
        rows = await connection.execute_query_dict(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1", [table])
        return {row["indexdef"].rsplit("(", 1)[1].split(")")[0] for row in rows}
    names = await connection.execute_query_dict(f"PRAGMA index_list({table})")
    columns = set()
    for index in names:
        info = await connection.execute_query_dict(f"PRAGMA index_info({index['name']})")
        columns.add(", ".join(row["name"] for row in info))
    return columns


async def test_the_clock_tick_reads_next_action_at_by_an_index(db):
    """The tick selects open matters whose next moment has come (migration 0003 declared the
    index, but no index was created until 0010)."""
    assert "next_action_at" in await indexed_columns("matter")


async def test_the_dispatcher_claims_by_status_and_due_time(db):
    assert "status, due_at" in await indexed_columns("outbound_message")
