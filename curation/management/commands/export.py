"""Export accepted candidates as an immutable DatasetVersion (layout: training/EXPORT_FORMAT.md).

Prints the version's directory (the one holding dataset.json) and a one-screen summary."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.management.progress import JobBar
from curation.models import DatasetVersion, Job
from curation.services.exports import ExportConfigError, export_create, export_sync_status


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="version name: lower-case letters, digits, - and _")
        parser.add_argument("--synsets", nargs="+", default=[], metavar="WNID")
        parser.add_argument("--subtree", metavar="WNID", help="every leaf class under this root")
        parser.add_argument(
            "--rollup",
            nargs="+",
            default=[],
            metavar="WNID",
            help="with --subtree: roll images up to these ancestors (classes)",
        )
        parser.add_argument(
            "--include-hyponyms",
            action="store_true",
            help="with --synsets: a class also takes its hyponyms' images",
        )
        split = parser.add_mutually_exclusive_group()
        split.add_argument("--val-per-class", type=int, help="fixed N val per class (default 50)")
        split.add_argument("--val-fraction", type=float)
        test = parser.add_mutually_exclusive_group()
        test.add_argument("--test-per-class", type=int)
        test.add_argument("--test-fraction", type=float)
        parser.add_argument(
            "--format",
            action="append",
            dest="formats",
            metavar="FORMAT",
            choices=["imagefolder", "webdataset", "jsonl"],
            help="imagefolder, webdataset, jsonl (repeatable; manifests always)",
        )
        parser.add_argument("--copy", action="store_true", help="ImageFolder copies, not links")
        parser.add_argument("--shard-max-bytes", type=int)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--min-per-class", type=int)
        parser.add_argument("--max-per-class", type=int)
        parser.add_argument(
            "--keep-duplicates",
            action="store_true",
            help="keep every member of a duplicate group (same split)",
        )
        parser.add_argument(
            "--keep-multiclass",
            action="store_true",
            help="keep an image accepted for two classes once (lowest class)",
        )
        parser.add_argument("--inline", action="store_true", help="run here, not on a worker")

    def handle(self, *args: Any, **o: Any) -> None:
        config: dict[str, Any] = {
            "synsets": o["synsets"],
            "subtree": o["subtree"],
            "rollup": o["rollup"],
            "include_hyponyms": o["include_hyponyms"],
            "val_per_class": o["val_per_class"],
            "val_fraction": o["val_fraction"],
            "test_per_class": o["test_per_class"],
            "test_fraction": o["test_fraction"],
            "formats": o["formats"] or ["imagefolder", "jsonl"],
            "imagefolder_mode": "copy" if o["copy"] else "hardlink",
            "duplicates": "keep_all" if o["keep_duplicates"] else "representative",
            "multiclass": "keep_once" if o["keep_multiclass"] else "exclude",
        }
        for key in ("min_per_class", "max_per_class", "shard_max_bytes"):
            if o[key] is not None:
                config[key] = o[key]
        try:
            version = export_create(
                name=o["name"], config=config, seed=o["seed"], inline=o["inline"]
            )
        except ExportConfigError as exc:
            raise CommandError(
                "bad export config; nothing was created:\n"
                + "\n".join(f"  {k}: {v}" for k, v in exc.errors.items())
            ) from exc
        if not o["inline"]:
            version = self._follow(version)
        self._summary(version)
        if version.status != DatasetVersion.Status.READY:
            raise CommandError(f"export {version.name} failed: {version.error}")

    def _follow(self, version: DatasetVersion) -> DatasetVersion:
        job = Job.objects.get(pk=version.job_id)
        bar = JobBar(job)
        try:
            while True:
                job.refresh_from_db()
                bar.update(job)
                version = export_sync_status(DatasetVersion.objects.get(pk=version.pk))
                if job.is_finished or version.status in ("ready", "failed"):
                    return version
                time.sleep(0.5)
        finally:
            bar.close()

    def _summary(self, v: DatasetVersion) -> None:
        w = self.stdout.write
        if v.status == DatasetVersion.Status.READY:
            w(v.path)
        w(
            f"export {v.name}: {v.status} · {v.num_classes:,} classes · {v.num_images:,} images"
            f" · seed {v.seed}"
        )
        totals = {"train": 0, "val": 0, "test": 0}
        for row in v.counts.values():
            for s in totals:
                totals[s] += row.get(s, 0)
        w("  " + " · ".join(f"{s} {n:,}" for s, n in totals.items() if n or s != "test"))
        for wnid, row in list(sorted(v.counts.items()))[:12]:
            w(f"  {wnid}  " + "  ".join(f"{s} {row.get(s, 0):>6,}" for s in totals))
        if len(v.counts) > 12:
            w(f"  ... {len(v.counts) - 12:,} more classes")
        if v.leakage:
            w(
                f"  leakage: {v.leakage.get('pairs_across_splits')} duplicate pairs across splits "
                f"({v.leakage.get('by_source')})"
            )
        if v.manifest_sha256:
            w(f"  manifest.jsonl sha256 {v.manifest_sha256}")
        if v.error:
            w(f"  error: {v.error}")
