"""Import all WordNet 3.0 noun synsets, the hypernym DAG and its closure (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.management.progress import run_job
from curation.services.jobs import job_create


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wordnet-dir",
            help="a WordNet dict directory (e.g. /usr/share/wordnet) or an nltk_data directory",
        )
        parser.add_argument(
            "--worker",
            action="store_true",
            help="run on a Celery worker instead of in this process",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        job = job_create(kind="import_wordnet", params={"wordnet_dir": options["wordnet_dir"]})
        job = run_job(job, inline=not options["worker"])
        if job.status != job.Status.SUCCEEDED:
            raise CommandError(job.error or f"import ended {job.status}")
        s = job.result.get("summary", {})
        changes = sum(
            s.get(k, 0)
            for k in (
                "synsets_created",
                "synsets_updated",
                "edges_created",
                "edges_updated",
                "edges_deleted",
                "closure_created",
                "closure_deleted",
            )
        )
        self.stdout.write(
            f"WordNet {s.get('version')} from {s.get('source')}\n"
            f"  synsets        {s.get('synsets_total', 0):>9,}  "
            f"(+{s.get('synsets_created', 0):,} new, {s.get('synsets_updated', 0):,} updated)\n"
            f"  parent edges   {s.get('edges_total', 0):>9,}  "
            f"(+{s.get('edges_created', 0):,}, ~{s.get('edges_updated', 0):,}, "
            f"-{s.get('edges_deleted', 0):,}); "
            f"{s.get('multi_parent', 0):,} synsets have 2+ parents\n"
            f"  closure pairs  {s.get('closure_pairs', 0):>9,}  "
            f"(+{s.get('closure_created', 0):,}, -{s.get('closure_deleted', 0):,}; "
            "self-pairs not counted)\n"
            f"  {changes:,} changes in {s.get('seconds', 0):.1f} s (job {job.pk})"
        )
