"""What follows what: jobs chained after an ingest (pre-labelling, then dedup).

`after_ingest` is called by the ingest service when it creates an ingest job; the jobs it returns
are followers (queued, not dispatched) that start when their parent succeeds: ingest -> prelabel
-> dedup. Without the pre-labelling module (or its job kind), dedup follows the ingest directly
and finds exact and near-exact duplicates only (no embeddings, no "near").
"""

from __future__ import annotations

import importlib
import logging

from curation.jobkinds import JOB_KINDS
from curation.models import Job

logger = logging.getLogger(__name__)


def _prelabel_follower(job: Job) -> Job | None:
    if "prelabel" not in JOB_KINDS:
        return None
    try:
        module = importlib.import_module("curation.services.prelabel")
    except ImportError:
        return None
    create = getattr(module, "prelabel_job_create", None)
    if create is not None:
        return create(created_by=job.created_by, parent=job)
    from curation.services.jobs import job_create

    return job_create(kind="prelabel", params={}, created_by=job.created_by, parent=job)


def after_ingest(*, job: Job) -> list[Job]:
    """Follower jobs for an ingest job: prelabel (when available), then dedup after it."""
    from curation.services.dedup import dedup_job_create

    followers: list[Job] = []
    prelabel = _prelabel_follower(job)
    if prelabel is not None:
        followers.append(prelabel)
    followers.append(dedup_job_create(created_by=job.created_by, parent=prelabel or job))
    return followers
