"""One ingest chunk: read or fetch each pending item, decode it once, store the files under
their sha256, and write every row (images, candidates, origins, item outcomes) in one transaction.

Images already known by sha256 are not decoded or stored again, so re-running a source costs a
read and a hash per file. Files are written before their rows commit; a chunk killed in between
leaves files that the re-run finds in place (same key, same size) and reuses.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Model

from curation.ingest.decode import Decoded, decode_image
from curation.ingest.fetch import SafeFetcher
from curation.ingest.limits import Limits
from curation.ingest.reasons import IngestError, Reason
from curation.models import Candidate, Image, ImageOrigin, IngestItem, Job
from curation.services.jobs import Progress
from curation.storage import original_key, thumb_key

SUB_BATCH_ITEMS = 128
SUB_BATCH_BYTES = 64 * 1024 * 1024
PROGRESS_EVERY_S = 0.5


@dataclass
class Outcome:
    item: IngestItem
    sha256: str = ""
    decoded: Decoded | None = None  # a new image (not in the database when the chunk looked)
    image_id: int | None = None  # a known image
    error: IngestError | None = None


@dataclass
class _Loaded:
    item: IngestItem
    data: bytes = b""
    content_type: str = ""
    error: IngestError | None = None
    sha256: str = field(default="")


def read_local(path: str, limits: Limits) -> bytes:
    """A local file's bytes, refusing oversize files before reading them."""
    try:
        size = os.stat(path).st_size
        if size > limits.max_bytes:
            raise IngestError(
                Reason.FILE_TOO_LARGE,
                f"{size:,} bytes is over the {limits.max_bytes:,}-byte limit (INGEST_MAX_BYTES)",
            )
        with open(path, "rb") as f:
            return f.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise IngestError(
            Reason.READ_ERROR, "file not found (moved or deleted after the job started?)"
        ) from None
    except IsADirectoryError:
        raise IngestError(Reason.READ_ERROR, "a folder, not a file") from None
    except PermissionError:
        raise IngestError(Reason.READ_ERROR, "permission denied") from None
    except OSError as exc:
        raise IngestError(Reason.READ_ERROR, f"cannot be read: {exc.strerror or exc}") from None


_folders_made: set[str] = set()


def store_bytes(key: str, data: bytes) -> None:
    """Write `data` at `key` through the default storage (content-addressed: a key always holds
    the same bytes, so writing it again, e.g. after a killed run left a partial file, is safe).

    Only images not yet in the database are written; their rows commit after the files are
    closed, so a row never points at a missing or partial file. On local storage the fan-out
    folder is made once per process and the file opened in place, which costs a third of the
    system calls of Storage.save() (name probing, lock, chmod, ownership checks).
    """
    folder = os.path.dirname(default_storage.path(key)) if hasattr(default_storage, "path") else ""
    if folder and folder not in _folders_made:  # FileSystemStorage and the like
        os.makedirs(folder, exist_ok=True)
        if len(_folders_made) > 200_000:
            _folders_made.clear()
        _folders_made.add(folder)
    try:
        handle = default_storage.open(key, "wb")
    except FileNotFoundError:  # the folder went away since we made it
        os.makedirs(folder, exist_ok=True)
        handle = default_storage.open(key, "wb")
    with handle:
        handle.write(data)


class _ChunkRunner:
    def __init__(self, job: Job, limits: Limits, progress: Progress) -> None:
        self.job = job
        self.limits = limits
        self.progress = progress
        self.pending_done = 0
        self.pending_errors = 0
        self.last_report = time.monotonic()
        self.decoded_here: dict[str, Decoded] = {}

    def tick(self, error: bool, *, force: bool = False) -> None:
        self.pending_done += 1
        self.pending_errors += int(error)
        now = time.monotonic()
        if force or now - self.last_report >= PROGRESS_EVERY_S:
            self.flush_progress()

    def flush_progress(self) -> None:
        if self.pending_done or self.pending_errors:
            self.progress(self.pending_done, errors=self.pending_errors)
        self.pending_done = self.pending_errors = 0
        self.last_report = time.monotonic()

    # -- getting the bytes --------------------------------------------------------------------

    def loaded(self, items: list[IngestItem]) -> Iterator[_Loaded]:
        """Local files in order, then URLs as their downloads finish."""
        local = [i for i in items if not i.url]
        remote = [i for i in items if i.url]
        for item in local:
            try:
                yield _Loaded(item, read_local(item.path, self.limits))
            except IngestError as exc:
                yield _Loaded(item, error=exc)
        if not remote:
            return
        fetcher = SafeFetcher(self.limits)
        workers = max(1, min(self.limits.url_threads, len(remote)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-fetch") as pool:
            futures = {pool.submit(fetcher.fetch, item.url): item for item in remote}
            for future in as_completed(futures):
                item = futures[future]
                try:
                    fetched = future.result()
                except IngestError as exc:
                    yield _Loaded(item, error=exc)
                except Exception as exc:  # a bug in a fetch must not fail the batch
                    yield _Loaded(item, error=IngestError(Reason.CONNECTION_ERROR, repr(exc)))
                else:
                    yield _Loaded(item, fetched.data, fetched.content_type)

    def sub_batches(self, items: list[IngestItem]) -> Iterator[list[_Loaded]]:
        batch: list[_Loaded] = []
        size = 0
        for loaded in self.loaded(items):
            batch.append(loaded)
            size += len(loaded.data)
            if len(batch) >= SUB_BATCH_ITEMS or size >= SUB_BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    # -- decoding -----------------------------------------------------------------------------

    def process(self, items: list[IngestItem]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for batch in self.sub_batches(items):
            for loaded in batch:
                if loaded.error is None:
                    loaded.sha256 = hashlib.sha256(loaded.data).hexdigest()
            shas = {x.sha256 for x in batch if x.sha256}
            known = dict(Image.objects.filter(sha256__in=shas).values_list("sha256", "pk"))
            for loaded in batch:
                outcome = self.decode_one(loaded, known)
                outcomes.append(outcome)
                loaded.data = b""  # let the bytes go as soon as they are stored
                self.tick(outcome.error is not None)
        self.flush_progress()
        return outcomes

    def decode_one(self, loaded: _Loaded, known: dict[str, int]) -> Outcome:
        item = loaded.item
        if loaded.error is not None:
            return Outcome(item, error=loaded.error)
        sha = loaded.sha256
        if sha in known:
            return Outcome(item, sha256=sha, image_id=known[sha])
        decoded = self.decoded_here.get(sha)
        if decoded is None:
            try:
                decoded = decode_image(loaded.data, self.limits, content_type=loaded.content_type)
            except IngestError as exc:
                return Outcome(item, error=exc)
            except Exception as exc:  # Pillow can raise anything on hostile input
                return Outcome(
                    item, error=IngestError(Reason.CORRUPT, f"cannot be decoded: {exc!r}")
                )
            store_bytes(original_key(sha, decoded.ext), loaded.data)
            store_bytes(thumb_key(sha), decoded.thumb)
            decoded.thumb = b""
            self.decoded_here[sha] = decoded
        return Outcome(item, sha256=sha, decoded=decoded)


# --- database writes ------------------------------------------------------------------------


def _pg_array_type(field: Any) -> str:
    return f"{field.cast_db_type(connection)}[]"


def insert_ignore_returning(
    objs: list[Model], unique_fields: list[str], returning: list[str]
) -> list[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING ...: the rows this call created.

    Values come from the model's fields (defaults, auto_now) exactly as Django would save them,
    so fields added later with defaults keep working. On PostgreSQL the rows travel as one array
    per column (unnest), a statement of constant size; elsewhere as a VALUES list (SQLite 3.35+).
    """
    if not objs:
        return []
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    conflict = ", ".join(quote(meta.get_field(f).column) for f in unique_fields)
    back = ", ".join(quote(meta.get_field(f).column) for f in returning)
    rows = [
        [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields] for obj in objs
    ]
    tail = f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {back}"
    created: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{_pg_array_type(f)}" for f in fields)
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "
                + tail,
                [list(column) for column in zip(*rows, strict=True)],
            )
            return [tuple(row) for row in cursor.fetchall()]
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        step = max(1, 5000 // len(fields))
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
                f"{', '.join([row_sql] * len(part))} " + tail,
                [value for row in part for value in row],
            )
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
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            part = items[start : start + 1000]
            rows = [
                [item.pk]
                + [f.get_db_prep_save(getattr(item, f.attname), connection) for f in fields]
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


def _image_for(sha: str, decoded: Decoded) -> Image:
    return Image(
        sha256=sha,
        storage_key=original_key(sha, decoded.ext),
        thumb_key=thumb_key(sha),
        format=decoded.format,
        mode=decoded.mode[:16],
        width=decoded.width,
        height=decoded.height,
        bytes=decoded.bytes,
        phash=decoded.phash,
        exif_orientation=decoded.orientation,
        frames=decoded.frames,
        problems=decoded.problems,
    )


@transaction.atomic
def write_outcomes(job: Job, outcomes: list[Outcome]) -> None:
    """Every row for one chunk, in one transaction (a re-run chunk writes them exactly once)."""
    source = str(job.params.get("source_name", ""))[:100]
    new_images = {o.sha256: o.decoded for o in outcomes if o.decoded is not None}
    ids = {o.sha256: o.image_id for o in outcomes if o.image_id is not None}
    created = insert_ignore_returning(
        [_image_for(sha, d) for sha, d in new_images.items()], ["sha256"], ["sha256", "id"]
    )
    created_shas = {sha for sha, _ in created}
    ids.update(created)
    # New to this chunk but inserted meanwhile by another one: look those few up.
    missing = {o.sha256 for o in outcomes if o.sha256 and o.sha256 not in ids}
    if missing:
        ids.update(Image.objects.filter(sha256__in=missing).values_list("sha256", "pk"))

    pairs: dict[tuple[int, int], Candidate] = {}
    for o in outcomes:
        if o.sha256 and o.item.synset_id:
            pair = (ids[o.sha256], o.item.synset_id)
            pairs.setdefault(
                pair,
                Candidate(
                    image_id=pair[0],
                    synset_id=pair[1],
                    source=source,
                    query=o.item.query[:255],
                    job_id=job.pk,
                ),
            )
    created_pairs = set(
        insert_ignore_returning(list(pairs.values()), ["image", "synset"], ["image", "synset"])
    )
    ImageOrigin.objects.bulk_create(
        [
            ImageOrigin(
                image_id=ids[o.sha256],
                uri=o.item.uri,
                uri_hash=hashlib.sha1(o.item.uri.encode("utf-8")).hexdigest(),
                source=source,
                job_id=job.pk,
            )
            for o in outcomes
            if o.sha256
        ],
        ignore_conflicts=True,
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


def ingest_chunk_run(*, job: Job, first: int, last: int, progress: Progress) -> None:
    """Run the items seq first..last of `job` that are still pending (idempotent)."""
    items = list(IngestItem.objects.filter(job=job, seq__gte=first, seq__lte=last).order_by("seq"))
    pending = [i for i in items if i.status == IngestItem.Status.PENDING]
    finished = [i for i in items if i.status != IngestItem.Status.PENDING]
    if finished:
        errors = sum(1 for i in finished if i.status == IngestItem.Status.ERROR)
        progress(len(finished), errors=errors)
    if not pending:
        return
    runner = _ChunkRunner(job, Limits.from_settings(), progress)
    outcomes = runner.process(pending)
    write_outcomes(job, outcomes)
