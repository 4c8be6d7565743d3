"""Every kind of long-running Job, its queue and the handler class that does its work.

Handlers are named by dotted path so web processes never import worker-only libraries.
A handler has `plan(job) -> Iterable[ChunkSpec]`, `run_chunk(job, chunk, progress)` and
optionally `finalize(job) -> dict`; each must be idempotent (see curation/services/jobs.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    queue: str
    handler: str
    label: str
    time_limit: int | None = None  # seconds per chunk, instead of the Celery default


JOB_KINDS: dict[str, JobKind] = {
    "import_wordnet": JobKind(
        "cpu", "curation.services.wordnet:WordnetImportHandler", "Import WordNet"
    ),
    "ingest": JobKind("cpu", "curation.services.ingest.handler:IngestHandler", "Ingest images"),
    "test_sleep": JobKind("cpu", "curation.services.jobs:SleepHandler", "Test job"),
    "dedup": JobKind("cpu", "worker.dedup.handler:DedupHandler", "Find duplicates"),
    "export": JobKind("cpu", "curation.services.exports.job:ExportHandler", "Export dataset"),
    "consensus": JobKind("cpu", "annotate.services.consensus:ConsensusHandler", "Consensus"),
    "prelabel": JobKind("gpu", "worker.prelabel:PrelabelHandler", "Pre-label images"),
    # One chunk per run: the training subprocess; days, not the default 15 minutes.
    "train": JobKind("gpu", "worker.training_handler:TrainHandler", "Train", 7 * 24 * 3600),
}
