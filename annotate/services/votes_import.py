"""Importing crowd votes from other tools: CSV with columns image, worker, label (+ wnid).

image is the sha256 of the image or the path/URL it was ingested from (ImageOrigin.uri); worker is
the other tool's worker id (an Annotator on platform "import"); label is yes/no, 1/0 or true/false;
wnid is a wnid or synset name, unless one synset is given for the whole file.

Hostile input is expected: rows that are not UTF-8, have unknown images or synsets, bad labels,
formula-like or over-long fields, NUL bytes, duplicates or contradictions are reported per line
with the reason, and every other row is imported. A file without the required columns imports
nothing. Re-importing the same file adds nothing (one vote per worker and candidate).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction

from annotate.models import Annotator, Vote
from annotate.services.external import clean_worker_id
from curation.models import Candidate, Image, ImageOrigin, Synset

LABELS = {"yes": True, "1": True, "true": True, "no": False, "0": False, "false": False}
SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
WNID_RE = re.compile(r"^n\d{8}$")
MAX_FIELD = 2048
MAX_PROBLEMS_KEPT = 1000
BATCH = 5000
COLUMN_ALIASES = {"item": "image", "synset": "wnid", "worker_id": "worker", "answer": "label"}

csv.field_size_limit(16 * 1024 * 1024)  # we check lengths ourselves, with a reason per row


class VotesImportError(ValueError):
    """The file as a whole cannot be imported (nothing was stored)."""


@dataclass
class Problem:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    already: int = 0
    duplicates: int = 0
    candidates_created: int = 0
    annotators_created: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    def problem(self, line: int, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(line, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "already": self.already,
            "duplicates": self.duplicates,
            "candidates_created": self.candidates_created,
            "annotators_created": self.annotators_created,
            "problem_count": self.problem_count,
            "problems": [{"line": p.line, "reason": p.reason} for p in self.problems],
        }


@dataclass
class _Row:
    line: int
    image: str
    worker: str
    label: bool
    synset_id: int


def _lines(stream: IO[bytes]) -> Iterator[str]:
    """Decode line by line: a bad byte spoils its line only (kept with surrogates, reported)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    first = True
    for raw in stream:
        text = decoder.decode(raw)
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _invalid_text(values: list[str]) -> bool:
    return any(any("\udc80" <= ch <= "\udcff" for ch in v) for v in values)


def votes_import(
    *, stream: IO[bytes] | bytes, synset: str | None = None, source: str = "import"
) -> ImportReport:
    """Import votes from a CSV byte stream; see the module docstring."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    fixed_synset: Synset | None = None
    if synset:
        key = synset.strip()
        fixed_synset = Synset.objects.filter(
            **({"wnid": key} if WNID_RE.match(key) else {"name": key})
        ).first()
        if fixed_synset is None:
            raise VotesImportError(f"unknown synset {synset!r}")
    reader = csv.reader(_lines(stream))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise VotesImportError("the file is empty") from exc
    except csv.Error as exc:
        raise VotesImportError(f"the header cannot be read: {exc}") from exc
    columns = [COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    required = ["image", "worker", "label"] + ([] if fixed_synset else ["wnid"])
    missing = [c for c in required if c not in columns]
    if missing:
        hint = "" if fixed_synset or "wnid" not in missing else " (or pass a synset for the file)"
        raise VotesImportError(f"missing column(s): {', '.join(missing)}{hint}")
    position = {name: columns.index(name) for name in required}

    report = ImportReport()
    synset_cache: dict[str, int | None] = {}
    seen: dict[tuple[str, str, int], tuple[int, bool]] = {}
    batch: list[_Row] = []
    touched: set[int] = set()
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.rows += 1
            report.problem(reader.line_num, f"unreadable row: {exc}")
            continue
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        report.rows += 1
        row = _parse_row(values, line, position, fixed_synset, synset_cache, report)
        if row is None:
            continue
        key = (row.worker, row.image.lower(), row.synset_id)
        if key in seen:
            first_line, first_label = seen[key]
            if first_label == row.label:
                report.duplicates += 1
                report.problem(line, f"duplicate of line {first_line}")
            else:
                report.problem(line, f"contradicts line {first_line} (kept the first)")
            continue
        seen[key] = (line, row.label)
        batch.append(row)
        if len(batch) >= BATCH:
            touched |= _store(batch, report, source)
            batch = []
    if batch:
        touched |= _store(batch, report, source)
    if touched:
        _after_import(touched)
    return report


def _parse_row(
    values: list[str],
    line: int,
    position: dict[str, int],
    fixed_synset: Synset | None,
    synset_cache: dict[str, int | None],
    report: ImportReport,
) -> _Row | None:
    if len(values) <= max(position.values()):
        report.problem(line, f"expected at least {max(position.values()) + 1} columns")
        return None
    picked = {name: values[index] for name, index in position.items()}
    if _invalid_text(list(picked.values())):
        report.problem(line, "not valid UTF-8")
        return None
    too_long = [name for name, value in picked.items() if len(value) > MAX_FIELD]
    if too_long:
        report.problem(line, f"field too long: {', '.join(too_long)} (max {MAX_FIELD} chars)")
        return None
    if any("\x00" in v for v in picked.values()):
        report.problem(line, "contains a NUL byte")
        return None
    label = LABELS.get(picked["label"].strip().lower())
    if label is None:
        report.problem(
            line, f"unknown label {picked['label'][:40]!r} (use yes/no, 1/0, true/false)"
        )
        return None
    try:
        worker = clean_worker_id(picked["worker"])
    except ValueError as exc:
        report.problem(line, str(exc))
        return None
    image = picked["image"].strip()
    if not image:
        report.problem(line, "empty image")
        return None
    if fixed_synset is not None:
        synset_id: int | None = fixed_synset.pk
    else:
        key = picked["wnid"].strip()
        if key not in synset_cache:
            field_name = "wnid" if WNID_RE.match(key) else "name"
            synset_cache[key] = (
                Synset.objects.filter(**{field_name: key}).values_list("pk", flat=True).first()
                if key and len(synset_cache) < 100_000
                else None
            )
        synset_id = synset_cache[key]
        if synset_id is None:
            report.problem(line, f"unknown synset {key[:40]!r}")
            return None
    return _Row(line=line, image=image, worker=worker, label=label, synset_id=synset_id)


def _resolve_images(rows: list[_Row]) -> dict[str, int]:
    """image field -> Image id, by sha256 or by the source path/URL it was ingested from."""
    shas = {r.image.lower() for r in rows if SHA_RE.match(r.image)}
    found = dict(Image.objects.filter(sha256__in=shas).values_list("sha256", "pk"))
    out = {r.image: found[r.image.lower()] for r in rows if r.image.lower() in found}
    uris = {r.image for r in rows if r.image not in out}
    hashes = {hashlib.sha1(u.encode("utf-8")).hexdigest(): u for u in uris}
    for uri_hash, uri, image_id in ImageOrigin.objects.filter(
        uri_hash__in=list(hashes)
    ).values_list("uri_hash", "uri", "image_id"):
        if hashes.get(uri_hash) == uri:
            out.setdefault(uri, image_id)
    return out


@transaction.atomic
def _store(rows: list[_Row], report: ImportReport, source: str) -> set[int]:
    images = _resolve_images(rows)
    usable = []
    for row in rows:
        if row.image in images:
            usable.append(row)
        else:
            report.problem(row.line, f"unknown image {row.image[:80]!r}")
    if not usable:
        return set()
    pairs = {(images[r.image], r.synset_id) for r in usable}
    existing = _candidates(pairs)
    missing = [p for p in pairs if p not in existing]
    if missing:
        Candidate.objects.bulk_create(
            [
                Candidate(image_id=i, synset_id=s, source="import_votes", query="")
                for i, s in missing
            ],
            ignore_conflicts=True,
        )
        created = _candidates(set(missing))
        report.candidates_created += len(created)
        existing.update(created)
    workers = {r.worker for r in usable}
    annotators = dict(
        Annotator.objects.filter(
            platform=Annotator.Platform.IMPORT, external_id__in=workers
        ).values_list("external_id", "pk")
    )
    new_workers = [w for w in workers if w not in annotators]
    if new_workers:
        Annotator.objects.bulk_create(
            [Annotator(platform=Annotator.Platform.IMPORT, external_id=w) for w in new_workers],
            ignore_conflicts=True,
        )
        report.annotators_created += len(new_workers)
        annotators = dict(
            Annotator.objects.filter(
                platform=Annotator.Platform.IMPORT, external_id__in=workers
            ).values_list("external_id", "pk")
        )
    votes = [
        Vote(
            annotator_id=annotators[r.worker],
            candidate_id=existing[(images[r.image], r.synset_id)],
            synset_id=r.synset_id,
            answer=r.label,
            source=Vote.Source.IMPORT,
        )
        for r in usable
    ]
    present = set(
        Vote.objects.filter(
            annotator_id__in={v.annotator_id for v in votes},
            candidate_id__in={v.candidate_id for v in votes},
        ).values_list("annotator_id", "candidate_id")
    )
    fresh = [v for v in votes if (v.annotator_id, v.candidate_id) not in present]
    Vote.objects.bulk_create(fresh, ignore_conflicts=True)
    report.imported += len(fresh)
    report.already += len(votes) - len(fresh)
    return {v.candidate_id for v in fresh}


def _candidates(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    if not pairs:
        return {}
    image_ids = {i for i, _ in pairs}
    synset_ids = {s for _, s in pairs}
    return {
        (i, s): pk
        for pk, i, s in Candidate.objects.filter(
            image_id__in=image_ids, synset_id__in=synset_ids
        ).values_list("pk", "image_id", "synset_id")
        if (i, s) in pairs
    }


def _after_import(candidate_ids: set[int]) -> None:
    """New votes count now: queue rows for new candidates, then consensus for the touched ones."""
    from annotate.services.consensus import consensus_update
    from annotate.services.queue import queue_sync

    queue_sync(full=False)
    consensus_update(candidate_ids=candidate_ids)
