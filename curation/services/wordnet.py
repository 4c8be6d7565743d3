"""import_wordnet: all WordNet 3.0 noun synsets, the hypernym DAG and its closure, idempotently."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from curation.db import bulk_insert_rows, delete_ids
from curation.models import Job, JobChunk, Synset, SynsetClosure, SynsetEdge
from curation.services.jobs import ChunkSpec, Progress
from curation.wordnet import compute_closure, locate_wordnet, read_nouns

# Closure pairs are diffed as packed int64 keys: ancestor id | descendant id | distance.
_DESC_BITS, _DIST_BITS = 28, 6

SYNSET_FIELDS = (
    "name",
    "lemmas",
    "gloss",
    "examples",
    "lexname",
    "depth",
    "search_text",
    "descendant_count",
    "child_count",
)


@dataclass
class ImportSummary:
    synsets_total: int = 0
    synsets_created: int = 0
    synsets_updated: int = 0
    edges_total: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    edges_deleted: int = 0
    closure_pairs: int = 0
    closure_created: int = 0
    closure_deleted: int = 0
    multi_parent: int = 0
    seconds: float = 0.0
    version: str = ""
    source: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        return (
            self.synsets_created
            + self.synsets_updated
            + self.edges_created
            + self.edges_updated
            + self.edges_deleted
            + self.closure_created
            + self.closure_deleted
        )


def search_text_for(wnid: str, name: str, lemmas: list[str]) -> str:
    words = {wnid, name.lower()}
    for lemma in lemmas:
        words.add(lemma.lower())
        words.add(lemma.lower().replace("_", " "))
    # Delimited on both sides so "|husky|" is an exact lemma match and "|husk" a prefix match.
    return "|" + "|".join(sorted(words)) + "|"


def _pack(anc: np.ndarray, desc: np.ndarray, dist: np.ndarray) -> np.ndarray:
    return (anc << (_DESC_BITS + _DIST_BITS)) | (desc << _DIST_BITS) | dist


def _unpack(keys: np.ndarray) -> Iterable[tuple[int, int, int]]:
    anc = keys >> (_DESC_BITS + _DIST_BITS)
    desc = (keys >> _DIST_BITS) & ((1 << _DESC_BITS) - 1)
    dist = keys & ((1 << _DIST_BITS) - 1)
    return zip(anc.tolist(), desc.tolist(), dist.tolist(), strict=True)


def wordnet_import(
    *, wordnet_dir: str | None = None, progress: Progress | None = None
) -> ImportSummary:
    """Create or update every noun synset, edge and closure pair; unchanged rows are not written."""
    started = time.monotonic()

    def report(done: int = 0, message: str | None = None) -> None:
        if progress is not None:
            progress(done, message=message)

    staging = Path(settings.WORDNET_STAGING_DIR)
    report(0, "reading WordNet")
    root = locate_wordnet(wordnet_dir, staging, settings.WORDNET_DICT_DIR)
    nouns = read_nouns(root)
    n = len(nouns.synsets)
    summary = ImportSummary(synsets_total=n, version=nouns.version, source=nouns.source)
    report(n, f"read {n:,} synsets; computing the closure")

    index = {rec.wnid: i for i, rec in enumerate(nouns.synsets)}
    edge_idx = [(index[p], index[c]) for p, c, _ in nouns.edges]
    closure = compute_closure(n, edge_idx)
    summary.edges_total = len(nouns.edges)
    summary.closure_pairs = int(len(closure.ancestor) - n)
    summary.multi_parent = int(
        np.count_nonzero(np.bincount([c for _, c in edge_idx], minlength=n) > 1)
    )

    # Each phase is its own transaction so progress stays visible; each is a diff against what is
    # stored, so a re-run after a crash between phases completes the import.
    timings: dict[str, float] = {"read": time.monotonic() - started}
    with transaction.atomic():
        ids = _write_synsets(nouns, closure, summary)
    timings["synsets"] = time.monotonic() - started - sum(timings.values())
    report(n, f"synsets written; writing {len(nouns.edges):,} edges")
    with transaction.atomic():
        _write_edges(nouns, index, ids, summary)
    timings["edges"] = time.monotonic() - started - sum(timings.values())
    report(len(nouns.edges), f"writing {summary.closure_pairs:,} closure pairs")
    with transaction.atomic():
        _write_closure(closure, ids, summary)
    timings["closure"] = time.monotonic() - started - sum(timings.values())
    report(len(closure.ancestor), "done")
    summary.timings = {k: round(v, 2) for k, v in timings.items()}
    summary.seconds = round(time.monotonic() - started, 2)
    return summary


def _write_synsets(nouns: Any, closure: Any, summary: ImportSummary) -> np.ndarray:
    existing = {
        row[0]: row[1:]
        for row in Synset.objects.values_list("wnid", "pk", *SYNSET_FIELDS).iterator(
            chunk_size=10_000
        )
    }
    to_create: list[Synset] = []
    to_update: list[Synset] = []
    for i, rec in enumerate(nouns.synsets):
        values = {
            "name": rec.name,
            "lemmas": rec.lemmas,
            "gloss": rec.gloss,
            "examples": rec.examples,
            "lexname": rec.lexname,
            "depth": int(closure.depth[i]),
            "search_text": search_text_for(rec.wnid, rec.name, rec.lemmas),
            "descendant_count": int(closure.descendant_count[i]),
            "child_count": int(closure.child_count[i]),
        }
        old = existing.get(rec.wnid)
        if old is None:
            to_create.append(Synset(wnid=rec.wnid, **values))
        elif tuple(old[1:]) != tuple(values[f] for f in SYNSET_FIELDS):
            to_update.append(Synset(pk=old[0], wnid=rec.wnid, **values))
    if to_create:
        columns = ("wnid", *SYNSET_FIELDS, "active", "target_images")
        json_fields = {"lemmas", "examples"}
        bulk_insert_rows(
            Synset,
            columns,
            (
                tuple(
                    json.dumps(getattr(s, f)) if f in json_fields else getattr(s, f)
                    for f in columns
                )
                for s in to_create
            ),
        )
    if to_update:
        Synset.objects.bulk_update(to_update, SYNSET_FIELDS, batch_size=2_000)
    summary.synsets_created, summary.synsets_updated = len(to_create), len(to_update)
    pk_by_wnid = dict(Synset.objects.values_list("wnid", "pk"))
    return np.array([pk_by_wnid[rec.wnid] for rec in nouns.synsets], dtype=np.int64)


def _write_edges(
    nouns: Any, index: dict[str, int], ids: np.ndarray, summary: ImportSummary
) -> None:
    wanted = {(int(ids[index[p]]), int(ids[index[c]])): kind for p, c, kind in nouns.edges}
    existing = {
        (parent, child): (pk, kind)
        for pk, parent, child, kind in SynsetEdge.objects.values_list(
            "pk", "parent_id", "child_id", "kind"
        ).iterator(chunk_size=10_000)
    }
    stale = [pk for key, (pk, _) in existing.items() if key not in wanted]
    changed = [
        SynsetEdge(pk=existing[key][0], kind=kind)
        for key, kind in wanted.items()
        if key in existing and existing[key][1] != kind
    ]
    new = [(p, c, kind) for (p, c), kind in wanted.items() if (p, c) not in existing]
    delete_ids(SynsetEdge, stale)
    if changed:
        SynsetEdge.objects.bulk_update(changed, ["kind"], batch_size=2_000)
    bulk_insert_rows(SynsetEdge, ("parent_id", "child_id", "kind"), new)
    summary.edges_created, summary.edges_updated, summary.edges_deleted = (
        len(new),
        len(changed),
        len(stale),
    )


def _write_closure(closure: Any, ids: np.ndarray, summary: ImportSummary) -> None:
    wanted = np.unique(_pack(ids[closure.ancestor], ids[closure.descendant], closure.distance))
    rows = SynsetClosure.objects.values_list("ancestor_id", "descendant_id", "distance", "pk")
    existing_list = list(rows.iterator(chunk_size=50_000))
    if existing_list:
        arr = np.array(existing_list, dtype=np.int64)
        existing_keys = _pack(arr[:, 0], arr[:, 1], arr[:, 2])
        stale_mask = ~np.isin(existing_keys, wanted)
        stale_ids = arr[stale_mask, 3].tolist()
        new_keys = np.setdiff1d(wanted, existing_keys, assume_unique=False)
    else:
        stale_ids, new_keys = [], wanted
    delete_ids(SynsetClosure, stale_ids)
    bulk_insert_rows(SynsetClosure, ("ancestor_id", "descendant_id", "distance"), _unpack(new_keys))
    summary.closure_created, summary.closure_deleted = len(new_keys), len(stale_ids)


class WordnetImportHandler:
    """The import as a one-chunk Job (the work is one transaction)."""

    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        # Units: synsets read + written, edges, closure rows with self-pairs (WordNet 3.0 sizes).
        yield ChunkSpec(payload={}, size=2 * 82_115 + 84_427 + 825_356)

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        summary = wordnet_import(wordnet_dir=job.params.get("wordnet_dir"), progress=progress)
        Job.objects.filter(pk=job.pk).update(
            result={**job.result, "summary": json.loads(json.dumps(asdict(summary)))}
        )

    def finalize(self, job: Job) -> dict[str, Any]:
        summary = job.result.get("summary", {})
        Job.objects.filter(pk=job.pk).update(
            message=f"{summary.get('synsets_total', 0):,} synsets; "
            f"{ImportSummary(**summary).changes if summary else 0:,} changes"
        )
        return {}
