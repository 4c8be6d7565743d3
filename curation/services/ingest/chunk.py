"""One ingest chunk: read or fetch each pending item, decode it once, store the files under
their sha256, and write every row (images, candidates, origins, item outcomes) in one transaction.

Images already known by sha256 are not decoded or stored again, so re-running a source costs a
read and a hash per file. Files are written before their rows commit; a chunk killed in between
leaves files that the re-run finds in place (same key, same size) and reuses.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from curation.ingest.decode import Decoded, decode_image
from curation.ingest.fetch import SafeFetcher
from curation.ingest.limits import Limits
from curation.ingest.reasons import IngestError, Reason
from curation.models import Image, IngestItem, Job
from curation.services.ingest.writes import Outcome, write_outcomes
from curation.services.jobs import Progress
from curation.storage import original_key, thumb_key

SUB_BATCH_ITEMS = 128
SUB_BATCH_BYTES = 64 * 1024 * 1024
PROGRESS_EVERY_S = 0.5


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
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def _local_path(key: str) -> str | None:
    """The file behind `key` on local storage; None for remote storage (S3: no path())."""
    try:
        return default_storage.path(key)
    except NotImplementedError:
        return None


def _write_file(path: str, data: bytes) -> None:
    """One open, write(s) and close: no buffering layer, whose fstat, ioctl and lseek cost as
    much again as the write of a small file. Mode 0o666 less the umask, as open() gives."""
    fd = os.open(path, _WRITE_FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def store_bytes(key: str, data: bytes) -> None:
    """Write `data` at `key` through the default storage (content-addressed: a key always holds
    the same bytes, so writing it again, e.g. after a killed run left a partial file, is safe).

    Only images not yet in the database are written; their rows commit after the files are
    closed, so a row never points at a missing or partial file. On local storage each fan-out
    folder is made once per process (one mkdir: its parent is made first) and the file is
    written in place, a third of the system calls of Storage.save() (name probing, lock, chmod,
    ownership checks).
    """
    path = _local_path(key)
    if path is None:  # remote storage: save() is the call every backend implements
        if default_storage.exists(key):  # e.g. a partial file left by a killed run
            default_storage.delete(key)
        saved = default_storage.save(key, ContentFile(data))
        if saved != key:  # a backend that renamed it: the row would point elsewhere
            default_storage.delete(saved)
            raise OSError(f"the storage saved {key} as {saved}")
        return
    folder = os.path.dirname(path)
    if folder not in _folders_made:
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass
        except FileNotFoundError:  # its parent is new too
            os.makedirs(folder, exist_ok=True)
        if len(_folders_made) > 200_000:
            _folders_made.clear()
        _folders_made.add(folder)
    try:
        _write_file(path, data)
    except FileNotFoundError:  # the folder went away since we made it
        os.makedirs(folder, exist_ok=True)
        _write_file(path, data)


def store_image_files(sha: str, ext: str, data: bytes, thumb: bytes) -> None:
    """The original and its thumbnail, or neither: a write that fails (disk full, storage down)
    removes what it wrote and becomes the item's error, so the batch goes on and nothing
    half-written stays behind."""
    keys = [original_key(sha, ext), thumb_key(sha)]
    written: list[str] = []
    try:
        for key, payload in zip(keys, (data, thumb), strict=True):
            written.append(key)
            store_bytes(key, payload)
    except OSError as exc:
        for key in written:
            with contextlib.suppress(OSError):
                default_storage.delete(key)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise IngestError(
                Reason.DISK_FULL, f"no space left on the image storage writing {written[-1]}"
            ) from None
        raise IngestError(
            Reason.STORAGE_ERROR, f"cannot write {written[-1]}: {exc.strerror or exc}"
        ) from None


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
                decoded = decode_image(
                    loaded.data, self.limits, content_type=loaded.content_type, sha256=sha
                )
            except IngestError as exc:
                return Outcome(item, error=exc)
            except Exception as exc:  # Pillow can raise anything on hostile input
                return Outcome(
                    item, error=IngestError(Reason.CORRUPT, f"cannot be decoded: {exc!r}")
                )
            try:
                store_image_files(sha, decoded.ext, loaded.data, decoded.thumb)
            except IngestError as exc:
                return Outcome(item, error=exc)
            decoded.thumb = b""
            self.decoded_here[sha] = decoded
        return Outcome(item, sha256=sha, decoded=decoded)


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
