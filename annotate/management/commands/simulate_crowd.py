"""Drive the real HTTP API with simulated annotators of known accuracy (demos, tests, benchmarks).

Each simulated annotator is a user with an API token; it asks for tasks, answers from the known
truth (a --truth CSV of image,wnid,truth and the gold items) with its accuracy, and submits, until
there is no work left. Spammers click at random or say yes to everything.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Vote
from annotate.services.simulate import Truth, crowd_pool, parse_accuracy, run_http, sim_users


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--annotators", type=int, default=20)
        parser.add_argument("--accuracy", default="0.65-0.95", help="a number or a range low-high")
        parser.add_argument("--spammers", type=float, default=0.1, help="share of spammers, 0..1")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--truth", help="CSV image,wnid,truth (default: the demo's, if any)")
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--max-tasks", type=int, help="tasks per annotator at most")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--prefix", default="sim", help="username prefix of the annotators")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            accuracy = parse_accuracy(options["accuracy"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not 0.0 <= options["spammers"] <= 1.0:
            raise CommandError("--spammers must be between 0 and 1")
        if options["annotators"] < 1:
            raise CommandError("--annotators must be at least 1")
        truth_path = options["truth"] or str(Path(settings.DATA_ROOT) / "annotate" / "truth.csv")
        path = Path(truth_path)
        if options["truth"] and not path.is_file():
            raise CommandError(f"no such truth file: {path}")
        truth = Truth.from_csv(path) if path.is_file() else Truth()
        truth.add_gold()
        workers = crowd_pool(
            options["annotators"],
            accuracy=accuracy,
            spammers=options["spammers"],
            seed=options["seed"],
            prefix=options["prefix"],
        )
        users = sim_users(workers)
        annotator_ids = [users[w.name][0].pk for w in workers]
        before = Vote.objects.filter(annotator_id__in=annotator_ids).count()
        self.stdout.write(
            f"{len(workers)} simulated annotators (accuracy {accuracy[0]:.2f}-{accuracy[1]:.2f}, "
            f"{options['spammers']:.0%} spammers) against {options['base_url']}; "
            f"{len(truth.labels):,} known answers"
        )
        started = time.perf_counter()
        stats = run_http(
            workers,
            base_url=options["base_url"],
            truth=truth,
            tokens={name: token for name, (_, token) in users.items()},
            concurrency=options["concurrency"],
            seed=options["seed"],
            max_tasks=options["max_tasks"],
        )
        seconds = time.perf_counter() - started
        stored = Vote.objects.filter(annotator_id__in=annotator_ids).count() - before
        self.stdout.write(
            f"tasks {stats.tasks:,}  votes sent {stats.votes_sent:,}  stored {stored:,}  "
            f"in {seconds:.1f} s ({stats.votes_sent / max(seconds, 1e-9):.0f} votes/s)"
        )
        for error in stats.errors[:10]:
            self.stderr.write(f"  {error}")
        if stored != stats.votes_sent:
            raise CommandError(f"votes sent ({stats.votes_sent}) != stored ({stored})")
