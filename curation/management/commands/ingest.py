"""Ingest candidate images from a folder (one subfolder per synset, by wnid or name), a flat
folder or archive with --synset, a .zip/.tar/.tar.gz, a URL list (`url` or `wnid<TAB>url` per
line) or a CSV manifest (`path_or_url,wnid,query`). Running it again adds nothing."""

from __future__ import annotations

import csv
import sys
import time
from contextlib import nullcontext
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.ingest.reasons import REASON_LABELS
from curation.management.progress import WAITING_HINT_AFTER_S, JobBar
from curation.models import Job
from curation.selectors.ingest import error_report_rows, ingest_errors, ingest_summary
from curation.services.ingest import IngestSourceError, SynsetLookupError, ingest_start
from curation.services.jobs import followers_inline


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="folder, archive, image, URL-list file or CSV manifest")
        parser.add_argument("--synset", help="wnid or name: every item goes to this synset")
        parser.add_argument(
            "--source-name", default="", help="recorded on each candidate (default: file name)"
        )
        parser.add_argument(
            "--inline", action="store_true", help="run here instead of on the cpu workers"
        )
        parser.add_argument("--no-wait", action="store_true", help="start the job and return")
        parser.add_argument("--errors", metavar="FILE.csv", help="write the error report here")

    def handle(self, *args: Any, **options: Any) -> None:
        bar: JobBar | None = None

        shown: list[int] = []

        def on_progress(job: Job) -> None:
            # Inline, the chained jobs (pre-labelling, dedup) follow: one bar per job.
            nonlocal bar
            if bar is None or shown[-1] != job.pk:
                if bar is not None:
                    bar.close()
                bar, _ = JobBar(job), shown.append(job.pk)
            bar.update(job)

        try:
            with followers_inline() if options["inline"] else nullcontext():
                job = ingest_start(
                    source=options["source"],
                    synset=options["synset"],
                    source_name=options["source_name"],
                    inline=options["inline"],
                    on_progress=on_progress if options["inline"] else None,
                )
        except IngestSourceError as exc:
            raise CommandError(str(exc)) from exc
        except SynsetLookupError as exc:
            raise CommandError(f"{exc}; nothing was ingested") from exc
        finally:
            if bar is not None:
                bar.close()
        if options["no_wait"] and not options["inline"]:
            self.stdout.write(f"ingest job {job.pk} queued: /curate/ingest/{job.pk}/")
            return
        if not options["inline"]:
            job = self._follow(job)
        self._summary(job, options.get("errors"))
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"ingest job {job.pk} {job.status}: {job.error}")

    def _follow(self, job: Job) -> Job:
        bar = JobBar(job)
        started = time.monotonic()
        hinted = False
        try:
            while True:
                job.refresh_from_db()
                bar.update(job)
                if job.is_finished:
                    return job
                if (
                    not hinted
                    and job.status == Job.Status.QUEUED
                    and time.monotonic() - started > WAITING_HINT_AFTER_S
                ):
                    self.stderr.write(
                        f"\nwaiting for a worker on queue '{job.queue}' (start one with "
                        "`make worker`, or run this command with --inline)"
                    )
                    hinted = True
                time.sleep(0.5)
        finally:
            bar.close()

    def _summary(self, job: Job, errors_file: str | None) -> None:
        s = job.result.get("summary") or ingest_summary(job)
        w = self.stdout.write
        kind, name = job.params.get("kind"), job.params.get("source_name")
        w(f"ingest job {job.pk} ({kind}, source {name!r}): {job.status}")
        w(
            f"  seen {s['seen']:,} · new images {s['new_images']:,} · "
            f"new candidates {s['new_candidates']:,} · already known {s['already_known']:,} · "
            f"errors {s['errors']:,}"
            + (f" · ignored {s['ignored']:,} (hidden/system files)" if s.get("ignored") else "")
        )
        for reason, count in s.get("errors_by_reason", {}).items():
            examples = list(ingest_errors(job, reason=reason).values_list("uri", "message")[:2])
            w(f"  {count:>7,}  {reason} ({REASON_LABELS.get(reason, reason)})")
            for uri, message in examples:
                w(f"             e.g. {uri[:60]!r}: {message[:140]}")
        if s.get("inactive_synsets"):
            shown = " ".join(s["inactive_synsets"][:10])
            w(
                f"  note: candidates went to inactive synsets ({shown}); "
                f"activate them with `manage.py activate_synsets {shown}`"
            )
        if s["errors"]:
            w(f"  error report: /curate/ingest/{job.pk}/errors.csv")
        if errors_file:
            out = sys.stdout if errors_file == "-" else open(errors_file, "w", newline="")  # noqa: SIM115
            try:
                csv.writer(out).writerows(error_report_rows(job))
            finally:
                if out is not sys.stdout:
                    out.close()
            if errors_file != "-":
                w(f"  error report written to {errors_file}")
