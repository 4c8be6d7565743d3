"""What follows what: jobs chained after an ingest (pre-labelling, then dedup).

`after_ingest` is called by the ingest service when it creates an ingest job; the jobs it returns
are followers (queued, not dispatched) that start when their parent succeeds: ingest -> prelabel
-> dedup (dedup uses the embeddings pre-labelling writes). PIPELINE_FOLLOWERS=False turns the
chain off (the test settings do, so each test starts only the jobs it means to).
"""

from __future__ import annotations

from django.conf import settings

from curation.models import Job


def after_ingest(*, job: Job) -> list[Job]:
    """Follower jobs for an ingest job: prelabel, then dedup after it."""
    if not settings.PIPELINE_FOLLOWERS:
        return []
    from curation.services.dedup import dedup_job_create
    from curation.services.prelabel import prelabel_start

    prelabel = prelabel_start(created_by=job.created_by, parent=job)
    dedup = dedup_job_create(created_by=job.created_by, parent=prelabel)
    return [prelabel, dedup]
