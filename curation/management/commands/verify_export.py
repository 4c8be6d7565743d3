"""Re-hash an export's files against dataset.json and its manifest; report every difference
(missing, extra, changed). Exit status 1 when anything differs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import DatasetVersion
from curation.services.exports import export_verify


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--quick",
            action="store_true",
            help="image files: existence only (manifests and shards re-hashed)",
        )

    def handle(self, *args: Any, **o: Any) -> None:
        version = DatasetVersion.objects.filter(name=o["name"]).first()
        if version is None:
            raise CommandError(f"no export named {o['name']!r}")
        report = export_verify(version=version, full=not o["quick"])
        w = self.stdout.write
        w(f"verify {version.name}: checked {report['checked']:,} files")
        for kind in ("missing", "extra", "changed"):
            for item in report[kind]:
                w(f"  {kind:<8} {item}")
        if not report["ok"]:
            raise CommandError(f"{report.get('differences', 0)} differences in {version.name}")
        w("  ok: every file matches")
