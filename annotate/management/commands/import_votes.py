"""Import crowd votes from another tool: CSV image,worker,label (+ wnid unless --synset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.services.votes_import import VotesImportError, votes_import

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file (UTF-8); '-' reads standard input")
        parser.add_argument("--synset", help="wnid or name for every row (no wnid column then)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            if path == "-":
                import sys

                report = votes_import(stream=sys.stdin.buffer, synset=options["synset"])
            else:
                file = Path(path)
                if not file.is_file():
                    raise CommandError(f"no such file: {path}")
                with file.open("rb") as stream:
                    report = votes_import(stream=stream, synset=options["synset"])
        except VotesImportError as exc:
            raise CommandError(f"{exc}; nothing was imported") from exc
        out = self.stdout
        out.write(f"rows read          {report.rows:>9,}")
        out.write(f"votes imported     {report.imported:>9,}")
        out.write(f"already present    {report.already:>9,}  (re-imports add nothing)")
        out.write(f"duplicates in file {report.duplicates:>9,}")
        out.write(f"new candidates     {report.candidates_created:>9,}")
        out.write(f"new workers        {report.annotators_created:>9,}")
        out.write(f"rows with problems {report.problem_count:>9,}")
        for problem in report.problems[:SHOWN_PROBLEMS]:
            out.write(f"  line {problem.line}: {problem.reason}")
        if report.problem_count > SHOWN_PROBLEMS:
            out.write(f"  ... and {report.problem_count - SHOWN_PROBLEMS:,} more")
