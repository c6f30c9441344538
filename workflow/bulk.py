"""Many rows in one statement, on SQLite and PostgreSQL alike: written, changed or read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.queryset import ValuesListQuery
from tortoise.transactions import in_transaction

from dispatch.outbox import placeholders, rows_parameters, rows_source, unnested
from dispatch.wakeup import is_postgres

MAX_PARAMETERS = 30000  # SQLite allows 32766 a statement


async def insert_new(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                     unique: Sequence[str], returning: Sequence[str], *,
                     types: Mapping[str, str]) -> list[tuple]:
    """Insert `rows`, leaving out each whose `unique` columns are taken already (by an
    earlier row or by another instance's transaction, which the insert waits for); returns
    `returning` of the rows inserted. A caller that acts only on those acts once. With no
    `unique` columns every row is inserted. `types`: the PostgreSQL types of the columns
    that are not text (`dispatch.outbox.rows_source`)."""
    found: list[tuple] = []
    for chunk in chunks(rows, len(columns)):
        found += await _insert_new(table, columns, chunk, unique, returning, types)
    return found


async def _insert_new(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                      unique: Sequence[str], returning: Sequence[str],
                      types: Mapping[str, str]) -> list[tuple]:
    if not rows:
        return []
    skip = f"ON CONFLICT ({', '.join(unique)}) DO NOTHING " if unique else ""
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
           f"{rows_source(columns, len(rows), types)} {skip}RETURNING {', '.join(returning)}")
    async with in_transaction() as connection:  # the caller's transaction, if it has one
        result = await connection.execute_query_dict(sql, rows_parameters(rows))
    return [tuple(r[c] for c in returning) for r in result]


async def update_many(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                      types: Mapping[str, str]) -> None:
    """Set each row's values of `columns[1:]` where `columns[0]` (the key) is its first
    value, in one statement a chunk: the rows' values differ, so the UPDATE joins them as a
    relation (PostgreSQL: `dispatch.outbox.unnested`, `types` the columns that are not
    text; SQLite: a VALUES list, the values as they are)."""
    key, *rest = columns
    sets = ", ".join(f"{c} = v.{c}" for c in rest)
    for chunk in chunks(rows, len(columns)):
        if is_postgres():
            sql = (f"UPDATE {table} SET {sets} FROM {unnested(columns, types)} "
                   f"WHERE {table}.{key} = v.{key}")
        else:
            sql = (f"WITH v ({', '.join(columns)}) AS (VALUES "
                   f"{placeholders(len(chunk), len(columns))}) UPDATE {table} SET {sets} "
                   f"FROM v WHERE {table}.{key} = v.{key}")
        async with in_transaction() as connection:  # the caller's transaction, if it has one
            await connection.execute_query(sql, rows_parameters(chunk))


def chunks(rows: Sequence[Sequence[Any]], width: int) -> list[Sequence[Sequence[Any]]]:
    """The rows in statements' worth: SQLite's parameters a statement are limited;
    PostgreSQL's arrays are one parameter a column, whatever their length."""
    if not rows:
        return []
    per_statement = len(rows) if is_postgres() else max(1, MAX_PARAMETERS // width)
    return [rows[start:start + per_statement] for start in range(0, len(rows), per_statement)]


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
