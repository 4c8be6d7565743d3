"""What follows what: jobs chained after an ingest (pre-labelling and dedup).

`after_ingest` is called by the ingest service when it creates an ingest job; the jobs it returns
are created as followers (parent=job, queued) and start when the ingest succeeds.
"""

from __future__ import annotations

from curation.models import Job


def after_ingest(*, job: Job) -> list[Job]:
    """Follower jobs for an ingest job (none until pre-labelling and dedup are registered)."""
    return []
