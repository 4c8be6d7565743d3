"""Bulk writes: PostgreSQL COPY where available, batched executemany elsewhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def bulk_insert_rows(
    model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], batch: int = 10_000
) -> int:
    """Insert plain tuples into model's table (no signals, no returned ids). Returns the count."""
    table = model._meta.db_table
    count = 0
    if is_postgres():
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {connection.ops.quote_name(table)} ({cols}) VALUES ({placeholders})"
    buffer: list[Sequence[Any]] = []
    with connection.cursor() as cursor:
        for row in rows:
            buffer.append(row)
            if len(buffer) >= batch:
                cursor.executemany(sql, buffer)
                count += len(buffer)
                buffer.clear()
        if buffer:
            cursor.executemany(sql, buffer)
            count += len(buffer)
    return count


def delete_ids(model: type[Model], ids: Sequence[int], batch: int = 5_000) -> int:
    deleted = 0
    for start in range(0, len(ids), batch):
        deleted += model.objects.filter(pk__in=ids[start : start + batch])._raw_delete(
            model.objects.db
        )
    return deleted
