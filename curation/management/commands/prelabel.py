"""`manage.py prelabel [--model NAME] [--synset WNID] [--inline]`: predictions, machine scores
and embeddings for images that lack them (a thin wrapper over curation.services.prelabel)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.management.progress import run_job
from curation.models import Job
from curation.services.models import ModelNotFound
from curation.services.prelabel import PrelabelError, prelabel_start


class Command(BaseCommand):
    help = "Pre-label images without a prediction by the active (or --model) model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="registered model name (default: the active one)")
        parser.add_argument("--synset", help="only this synset's candidates (wnid or name)")
        parser.add_argument("--inline", action="store_true", help="run here, not on a worker")
        parser.add_argument("--no-wait", action="store_true", help="queue the job and return")
        parser.add_argument("--chunk-size", type=int, default=256)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = prelabel_start(
                model=options.get("model"),
                synset=options.get("synset"),
                chunk_size=options["chunk_size"],
                dispatch=False,  # run_job runs it here or dispatches and follows it
            )
        except (ModelNotFound, PrelabelError) as exc:
            raise CommandError(str(exc)) from exc
        if options["no_wait"]:
            run_job(job, inline=False, wait=False)
            self.stdout.write(f"prelabel job {job.pk} queued: /curate/jobs/{job.pk}/")
            return
        job = run_job(job, inline=options["inline"])
        self._summary(job)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"prelabel job {job.pk} {job.status}: {job.error}")

    def _summary(self, job: Job) -> None:
        w = self.stdout.write
        s = job.result.get("summary", {})
        rate = job.rate
        w(f"prelabel job {job.pk} with {job.params.get('model')}: {job.status}")
        w(
            f"  images {s.get('images', 0):,} · predicted {s.get('predicted', 0):,} · "
            f"failed {s.get('failed', 0):,}" + (f" · {rate:.1f} img/s" if rate else "")
        )
        w(
            f"  similarity-scored candidates {s.get('similarity_scored', 0):,} · "
            f"auto-rejected (all time) {s.get('auto_rejected_total', 0):,}"
        )
        for image_id, error in job.result.get("failures", [])[:5]:
            w(f"  image {image_id}: {error[:150]}")
        if not s.get("images"):
            w("  nothing to do: every image already has a prediction by this model")
        w(f"  details: /curate/jobs/{job.pk}/")
