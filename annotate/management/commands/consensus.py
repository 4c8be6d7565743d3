"""Recompute consensus: refit annotators (Dawid-Skene with gold), then each synset's model,
thresholds and decisions. Runs as a `consensus` Job (cpu queue) with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.services.consensus import consensus_job
from curation.management.progress import run_job
from curation.models import Job
from curation.selectors.synsets import synset_get


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--synset", action="append", help="wnid or name (repeatable)")
        parser.add_argument(
            "--force", action="store_true", help="fit even where calibration is incomplete"
        )
        parser.add_argument(
            "--no-workers", action="store_true", help="keep annotator weights as they are"
        )
        parser.add_argument(
            "--worker", action="store_true", help="send to the cpu queue instead of running here"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wnids = []
        for ident in options["synset"] or []:
            synset = synset_get(ident)
            if synset is None:
                raise CommandError(f"unknown synset {ident!r}")
            wnids.append(synset.wnid)
        job = consensus_job(
            wnids=wnids or None, workers=not options["no_workers"], force=options["force"]
        )
        job = run_job(job, inline=not options["worker"])
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"consensus job {job.pk} {job.status}: {job.error}")
        r = job.result
        workers = r.get("workers", {})
        self.stdout.write(f"consensus job {job.pk}: {job.done} synsets in {job.elapsed}")
        if workers:
            self.stdout.write(
                f"  annotators refitted  {workers.get('annotators', 0):,} "
                f"({workers.get('votes', 0):,} votes, {workers.get('newly_blocked', 0)} blocked)"
            )
        self.stdout.write(
            f"  accepted {r.get('accepted', 0):,}  rejected {r.get('rejected', 0):,}  "
            f"escalated {r.get('escalated', 0):,}  open {r.get('open', 0):,}"
        )
        vpd = r.get("votes_per_decided")
        alpha, kappa = r.get("alpha"), r.get("kappa")
        self.stdout.write(
            f"  votes {r.get('votes', 0):,}"
            + (f"  ({vpd:.2f} per decided)" if vpd else "")
            + (f"  alpha {alpha:.3f}" if alpha is not None else "")
            + (f"  kappa {kappa:.3f}" if kappa is not None else "")
        )
