"""Updating many rows with different values in one statement.

Django's bulk_update writes `SET f = CASE WHEN id = 1 THEN ... WHEN id = 2 ...` per field, which
PostgreSQL evaluates row by row against every branch; for the 48 rows of a submit that dominated
its time. On PostgreSQL this joins a VALUES list instead (one pass); elsewhere it falls back to
bulk_update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


def bulk_set(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write `fields` of `objs` (matched by primary key) in one statement; returns the count."""
    if not objs:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, list(fields), batch_size=500)
        return len(objs)
    meta = model._meta
    pk = meta.pk
    quote = connection.ops.quote_name
    columns = [(meta.get_field(name), meta.get_field(name).column) for name in fields]
    casts = [pk.db_type(connection)] + [f.db_type(connection) for f, _ in columns]
    names = ["k"] + [f"c{i}" for i in range(len(columns))]
    assignments = ", ".join(
        f"{quote(column)} = v.{name}::{cast.split('(')[0] if 'varchar' in cast else cast}"
        for (field, column), name, cast in zip(columns, names[1:], casts[1:], strict=True)
    )
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    total = 0
    for start in range(0, len(objs), 500):
        chunk = objs[start : start + 500]
        params: list[Any] = []
        for obj in chunk:
            params.append(obj.pk)
            for field, _ in columns:
                params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
            f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v({', '.join(names)}) "
            f"WHERE t.{quote(pk.column)} = v.k::{casts[0]}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            total += cursor.rowcount
    return total


def bulk_set_unlocked(
    model: type[Model],
    objs: Sequence[Model],
    fields: Sequence[str],
    *,
    batch: int = 100,
    passes: int = 3,
    pause: float = 0.05,
) -> list[Any]:
    """bulk_set for background bookkeeping on rows that requests lock (annotators while they
    take or submit a task): small batches, each in its own short transaction, taking only the
    rows nobody holds (SKIP LOCKED) and coming back for the others a few times. One statement
    over every row would wait for each busy row while holding the rest, and every request of
    those annotators would queue behind it. Returns the pks still not written (busy throughout);
    the next run writes them."""
    import time

    from django.db import transaction

    pending = sorted(objs, key=lambda o: o.pk)
    for attempt in range(passes):
        left: list[Model] = []
        for start in range(0, len(pending), batch):
            part = pending[start : start + batch]
            with transaction.atomic():
                free = set(
                    model._default_manager.select_for_update(skip_locked=True)
                    .filter(pk__in=[o.pk for o in part])
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                bulk_set(model, [o for o in part if o.pk in free], fields)
            left += [o for o in part if o.pk not in free]
        pending = left
        if not pending:
            break
        if attempt < passes - 1:
            time.sleep(pause)
    return [o.pk for o in pending]
