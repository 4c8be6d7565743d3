"""An ingest chunk's database writes: images, candidates, origins and item outcomes, in one
transaction and a handful of statements per chunk (unnest arrays on PostgreSQL, VALUES lists
elsewhere), whatever the chunk's size."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Model
from django.utils import timezone

from curation.ingest.decode import Decoded
from curation.ingest.reasons import IngestError
from curation.models import Candidate, Image, ImageOrigin, IngestItem, Job
from curation.storage import original_key, thumb_key


@dataclass
class Outcome:
    item: IngestItem
    sha256: str = ""
    decoded: Decoded | None = None  # a new image (not in the database when the chunk looked)
    image_id: int | None = None  # a known image
    error: IngestError | None = None


def _pg_array_type(field: Any) -> str:
    return f"{field.cast_db_type(connection)}[]"


# Exact field classes whose value of the listed Python type goes to the database unchanged
# (Django's get_db_prep_save would return it as it is, after a dozen calls). Other fields and
# other values (None aside) take Django's own path: enums, lazy strings, JSON, dates.
_PASS_THROUGH: dict[type, tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.IntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.BigIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.PositiveBigIntegerField: (int,),
    models.AutoField: (int,),
    models.BigAutoField: (int,),
    models.FloatField: (float,),
    models.BooleanField: (bool,),
}


def _preparer(field: Any) -> Callable[[Any], Any]:
    """value -> what Django would send for `field`, the common cases without its call chain."""
    prep = field.get_db_prep_save
    kind = field.target_field if isinstance(field, models.ForeignKey) else field
    fast = _PASS_THROUGH.get(type(kind), ())
    if not fast:
        return lambda value: prep(value, connection)

    def prepare(value: Any) -> Any:
        if value is None or type(value) in fast:
            return value
        return prep(value, connection)

    return prepare


def _column(field: Any, rows: list[dict[str, Any]], now: Any) -> list[Any]:
    """One column of an insert: each row's value, or the field's default, ready to send."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return [field.get_db_prep_save(now, connection)] * len(rows)
    prepare = _preparer(field)
    name = field.attname
    if all(name in row for row in rows):
        return [prepare(row[name]) for row in rows]
    default = field.get_db_prep_save(field.get_default(), connection)
    return [prepare(row[name]) if name in row else default for row in rows]


def insert_ignore_returning(
    model: type[Model],
    rows: list[dict[str, Any]],
    unique_fields: list[str] | None,
    returning: list[str],
) -> list[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING ...: the rows this call created.

    `rows` map field attnames (`image_id`) to values; a field a row leaves out gets its default,
    auto_now(_add) fields the time of this call, as Django would save them (fields added later
    with defaults keep working), without building a model instance per row. `unique_fields`
    None: any unique constraint. On PostgreSQL the rows travel as one array per column
    (unnest), a statement of constant size; elsewhere as a VALUES list (SQLite 3.35+).
    """
    if not rows:
        return []
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    target = ""
    if unique_fields:
        target = "(" + ", ".join(quote(meta.get_field(f).column) for f in unique_fields) + ") "
    tail = f"ON CONFLICT {target}DO NOTHING"
    if returning:
        tail += " RETURNING " + ", ".join(quote(meta.get_field(f).column) for f in returning)
    now = timezone.now()
    values = [_column(f, rows, now) for f in fields]
    created: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{_pg_array_type(f)}" for f in fields)
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "
                + tail,
                values,
            )
            return [tuple(row) for row in cursor.fetchall()] if returning else []
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        by_row = list(zip(*values, strict=True))
        step = max(1, 5000 // len(fields))
        for start in range(0, len(by_row), step):
            part = by_row[start : start + step]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
                f"{', '.join([row_sql] * len(part))} " + tail,
                [value for row in part for value in row],
            )
            if returning:
                created.extend(tuple(row) for row in cursor.fetchall())
    return created


ITEM_OUTCOME_FIELDS = ("status", "reason", "message", "image", "image_created", "candidate_created")


def update_item_outcomes(items: list[IngestItem]) -> None:
    """One UPDATE ... FROM a list of rows per batch, where bulk_update would build a CASE WHEN
    per row and field (most of a chunk's CPU time at 256 rows)."""
    if not items:
        return
    meta = IngestItem._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in ITEM_OUTCOME_FIELDS]
    pk = meta.pk
    names = [pk.column] + [f.column for f in fields]
    table = quote(meta.db_table)
    assigns = ", ".join(
        f"{quote(f.column)} = CAST(v.{quote(f.column)} AS {f.cast_db_type(connection)})"
        for f in fields
    )
    where = f"{table}.{quote(pk.column)} = v.{quote(pk.column)}"
    preparers = [(f, _preparer(f)) for f in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            part = items[start : start + 1000]
            rows = [
                [item.pk] + [prepare(getattr(item, f.attname)) for f, prepare in preparers]
                for item in part
            ]
            if connection.vendor == "postgresql":
                arrays = ", ".join(f"%s::{_pg_array_type(f)}" for f in [pk, *fields])
                cursor.execute(
                    f"UPDATE {table} SET {assigns} FROM unnest({arrays}) "
                    f"AS v({', '.join(quote(n) for n in names)}) WHERE {where}",
                    [list(column) for column in zip(*rows, strict=True)],
                )
                continue
            row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
            cursor.execute(
                f"WITH v ({', '.join(quote(n) for n in names)}) AS "
                f"(VALUES {', '.join([row_sql] * len(part))}) "
                f"UPDATE {table} SET {assigns} FROM v WHERE {where}",
                [value for row in rows for value in row],
            )


def _image_row(sha: str, decoded: Decoded) -> dict[str, Any]:
    return {
        "sha256": sha,
        "storage_key": original_key(sha, decoded.ext),
        "thumb_key": thumb_key(sha),
        "format": decoded.format,
        "mode": decoded.mode[:16],
        "width": decoded.width,
        "height": decoded.height,
        "bytes": decoded.bytes,
        "phash": decoded.phash,
        "exif_orientation": decoded.orientation,
        "frames": decoded.frames,
        "problems": decoded.problems,
    }


@transaction.atomic
def write_outcomes(job: Job, outcomes: list[Outcome]) -> None:
    """Every row for one chunk, in one transaction (a re-run chunk writes them exactly once)."""
    source = str(job.params.get("source_name", ""))[:100]
    new_images = {o.sha256: o.decoded for o in outcomes if o.decoded is not None}
    ids = {o.sha256: o.image_id for o in outcomes if o.image_id is not None}
    created = insert_ignore_returning(
        Image, [_image_row(sha, d) for sha, d in new_images.items()], ["sha256"], ["sha256", "id"]
    )
    created_shas = {sha for sha, _ in created}
    ids.update(created)
    # New to this chunk but inserted meanwhile by another one: look those few up.
    missing = {o.sha256 for o in outcomes if o.sha256 and o.sha256 not in ids}
    if missing:
        ids.update(Image.objects.filter(sha256__in=missing).values_list("sha256", "pk"))

    pairs: dict[tuple[int, int], dict[str, Any]] = {}
    for o in outcomes:
        if o.sha256 and o.item.synset_id:
            pair = (ids[o.sha256], o.item.synset_id)
            if pair not in pairs:
                pairs[pair] = {
                    "image_id": pair[0],
                    "synset_id": pair[1],
                    "source": source,
                    "query": o.item.query[:255],
                    "job_id": job.pk,
                }
    created_pairs = set(
        insert_ignore_returning(
            Candidate, list(pairs.values()), ["image", "synset"], ["image", "synset"]
        )
    )
    insert_ignore_returning(
        ImageOrigin,
        [
            {
                "image_id": ids[o.sha256],
                "uri": o.item.uri,
                "uri_hash": hashlib.sha1(o.item.uri.encode("utf-8")).hexdigest(),
                "source": source,
                "job_id": job.pk,
            }
            for o in outcomes
            if o.sha256
        ],
        None,
        [],
    )
    image_claimed: set[str] = set()
    pair_claimed: set[tuple[int, int]] = set()
    items: list[IngestItem] = []
    for o in outcomes:
        item = o.item
        if o.error is not None:
            item.status = IngestItem.Status.ERROR
            item.reason = o.error.reason.value
            item.message = o.error.message[:2000]
        else:
            item.status = IngestItem.Status.DONE
            item.image_id = ids[o.sha256]
            # The first item that brought a new image (or candidacy) gets the credit.
            if o.sha256 in created_shas and o.sha256 not in image_claimed:
                item.image_created = True
                image_claimed.add(o.sha256)
            pair = (item.image_id, item.synset_id)
            if pair in created_pairs and pair not in pair_claimed:
                item.candidate_created = True
                pair_claimed.add(pair)
        items.append(item)
    update_item_outcomes(items)
