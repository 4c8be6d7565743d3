"""Find duplicate images: exact (identical pixels), near-exact (pHash within DEDUP_PHASH_RADIUS)
and near (cosine >= DEDUP_COSINE_THRESHOLD on the active model's embeddings), grouped with
union-find. Incremental: only images not yet indexed are searched. Running it again adds nothing."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.management.progress import JobBar
from curation.models import Job
from curation.selectors.duplicates import duplicate_summary
from curation.services.dedup import dedup_start


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--inline", action="store_true", help="run here instead of on the cpu workers"
        )
        parser.add_argument("--no-wait", action="store_true", help="start the job and return")

    def handle(self, *args: Any, **options: Any) -> None:
        bar: JobBar | None = None

        def on_progress(job: Job) -> None:
            nonlocal bar
            bar = bar or JobBar(job)
            bar.update(job)

        try:
            job = dedup_start(
                inline=options["inline"], on_progress=on_progress if options["inline"] else None
            )
        finally:
            if bar is not None:
                bar.close()
        if options["no_wait"] and not options["inline"]:
            self.stdout.write(f"dedup job {job.pk} queued: /curate/jobs/{job.pk}/")
            return
        if not options["inline"]:
            bar = JobBar(job)
            try:
                while not job.is_finished:
                    time.sleep(0.5)
                    job.refresh_from_db()
                    bar.update(job)
            finally:
                bar.close()
        self._summary(job)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"dedup job {job.pk} {job.status}: {job.error}")

    def _summary(self, job: Job) -> None:
        r, s, w = job.result, duplicate_summary(), self.stdout.write
        radius = job.params.get("phash_radius", settings.DEDUP_PHASH_RADIUS)
        cosine = job.params.get("cosine", settings.DEDUP_COSINE_THRESHOLD)
        w(f"dedup job {job.pk}: {job.status}")
        w(
            f"  thresholds: pHash radius {radius} · whitened cosine {cosine}"
            f" · pixel check {settings.DEDUP_VERIFY_MAX_DIFF}"
            f" · embeddings of model {r.get('model') or '(none: exact and near-exact only)'}"
            f" · {'GPU' if r.get('gpu') else 'CPU'}"
        )
        w(
            f"  groups {s['groups']:,} ({s['exact']:,} exact · {s['near_exact']:,} near-exact · "
            f"{s['near']:,} near) · images in groups {s['members']:,} · "
            f"crossing synsets {s['crosses']:,} · confirmed {s['confirmed']:,}"
        )
        w(
            f"  links {r.get('edges', 0):,} in all · this run: new groups "
            f"{r.get('new_groups', 0):,}"
            f" · changed {r.get('changed_groups', 0):,} · candidates excluded "
            f"{r.get('excluded', 0):,} · returned to annotation {r.get('restored', 0):,}"
        )
        w(
            f"  this run: candidate pairs {r.get('candidates', 0):,} · pixel-checked "
            f"{r.get('pixel_checks', 0):,} (the rest: identical pixels, already linked, or"
            " not a duplicate)"
        )
        w("  review: /curate/duplicates/")
