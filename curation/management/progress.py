"""Terminal progress for jobs: run inline or follow a worker, with a tqdm bar."""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm

from curation.models import Job
from curation.services.jobs import job_dispatch, job_run_inline

WAITING_HINT_AFTER_S = 10.0


class JobBar:
    def __init__(self, job: Job, stream: Any = None) -> None:
        self.bar = tqdm(
            total=job.total or None,
            desc=job.title or job.kind,
            unit="it",
            unit_scale=True,
            dynamic_ncols=True,
            file=stream or sys.stderr,
            mininterval=0.5,
        )

    def update(self, job: Job) -> None:
        if job.total and self.bar.total != job.total:
            self.bar.total = job.total
        self.bar.n = job.done
        postfix = {"errors": job.errors} if job.errors else {}
        self.bar.set_postfix(postfix, refresh=False)
        if job.message:
            self.bar.set_description_str(
                (job.title or job.kind) + ": " + job.message[:40], refresh=False
            )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_job(job: Job, *, inline: bool, wait: bool = True, stream: Any = None) -> Job:
    """Run `job` here (inline) or send it to the workers and follow it until it ends."""
    bar = JobBar(job, stream)
    try:
        if inline:
            return job_run_inline(job=job, on_progress=bar.update)
        job_dispatch(job=job)
        if not wait:
            return job
        started = time.monotonic()
        hinted = False
        while True:
            job.refresh_from_db()
            bar.update(job)
            if job.is_finished:
                return job
            if (
                job.status == Job.Status.QUEUED
                and not hinted
                and time.monotonic() - started > WAITING_HINT_AFTER_S
            ):
                print(
                    f"\nwaiting for a worker on queue '{job.queue}' (start one with `make worker`, "
                    "or run this command with --inline)",
                    file=stream or sys.stderr,
                )
                hinted = True
            time.sleep(0.5)
    finally:
        bar.close()
