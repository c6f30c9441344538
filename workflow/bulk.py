"""Many rows in one statement, on SQLite and PostgreSQL alike: written, changed or read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.queryset import ValuesListQuery
from tortoise.transactions import in_transaction

from dispatch.outbox import parameters, placeholders
from dispatch.wakeup import is_postgres

MAX_PARAMETERS = 30000  # asyncpg allows 32767 per statement, SQLite 32766


async def insert_new(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                     unique: Sequence[str], returning: Sequence[str]) -> list[tuple]:
    """Insert `rows`, leaving out each whose `unique` columns are taken already (by an
    earlier row or by another instance's transaction, which the insert waits for); returns
    `returning` of the rows inserted. A caller that acts only on those acts once. With no
    `unique` columns every row is inserted."""
    found: list[tuple] = []
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    for start in range(0, len(rows), per_statement):
        found += await _insert_new(table, columns, rows[start:start + per_statement], unique,
                                   returning)
    return found


async def _insert_new(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                      unique: Sequence[str], returning: Sequence[str]) -> list[tuple]:
    if not rows:
        return []
    skip = f"ON CONFLICT ({', '.join(unique)}) DO NOTHING " if unique else ""
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
           f"{placeholders(len(rows), len(columns))} {skip}RETURNING {', '.join(returning)}")
    values = [value for row in rows for value in row]
    async with in_transaction() as connection:  # the caller's transaction, if it has one
        result = await connection.execute_query_dict(sql, values)
    return [tuple(r[c] for c in returning) for r in result]


async def update_many(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                      types: dict[str, str]) -> None:
    """Set each row's values of `columns[1:]` where `columns[0]` (the key) is its first
    value, in one statement a chunk: the rows' values differ, so the UPDATE joins a VALUES
    list. `types`: the PostgreSQL types of the columns that are not text (it types an
    untyped parameter as text); SQLite takes the values as they are."""
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    typed = types if is_postgres() else {}
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        marks = iter(parameters(len(chunk) * len(columns)))
        values = ", ".join("(" + ", ".join(
            f"CAST({next(marks)} AS {typed[column]})" if column in typed else next(marks)
            for column in columns) + ")" for _ in chunk)
        key, *rest = columns
        sql = (f"WITH v ({', '.join(columns)}) AS (VALUES {values}) UPDATE {table} SET "
               f"{', '.join(f'{c} = v.{c}' for c in rest)} FROM v WHERE {table}.{key} = v.{key}")
        async with in_transaction() as connection:  # the caller's transaction, if it has one
            await connection.execute_query(sql, [value for row in chunk for value in row])


async def plain_values(query: ValuesListQuery) -> list[tuple]:
    """The rows of a `values_list` query (not flat; no JSON column), on PostgreSQL as the
    driver decodes them: the ORM converts every value again in Python, which in a batch of
    thousands of rows is much of its time. SQLite's values need the ORM's conversion."""
    if not is_postgres():
        return await query
    query._choose_db_if_not_chosen()
    query._make_query()  # what awaiting the query does before it executes it
    _, rows = await query._db.execute_query(*query.query.get_parameterized_sql())
    return [tuple(row) for row in rows]
