"""Train a baseline on an export: a TrainingRun through the gpu workers (or --inline, here).

Prints one line per finished epoch and a summary; exits non-zero when the run fails."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import DatasetVersion, TrainingRun
from curation.services.jobs import job_run_inline
from curation.services.training import (
    TRAINING_ARCHS,
    TrainingRunError,
    training_run_start,
    training_run_sync,
)

FINISHED = (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export", required=True, help="DatasetVersion name")
        parser.add_argument("--arch", default="resnet18", choices=TRAINING_ARCHS)
        parser.add_argument("--epochs", type=int, default=10)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--workers", type=int, help="data-loading processes")
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--format", choices=("auto", "imagefolder", "webdataset"))
        parser.add_argument("--inline", action="store_true", help="train here, not on a worker")
        parser.add_argument("--no-wait", action="store_true", help="start the run and return")

    def handle(self, *args: Any, **options: Any) -> None:
        version = DatasetVersion.objects.filter(name=options["export"]).first()
        if version is None:
            raise CommandError(f"no export named {options['export']!r}")
        config = {
            k: options[k]
            for k in ("batch_size", "lr", "seed", "workers", "image_size", "format")
            if options.get(k) is not None
        }
        try:
            run = training_run_start(
                dataset_version=version, arch=options["arch"], epochs=options["epochs"],
                config=config, dispatch=not options["inline"],
            )  # fmt: skip
        except TrainingRunError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"run {run.pk}: {run.arch}, {run.epochs} epochs on {version.name}")
        self.stdout.write(f"  page: /curate/runs/{run.pk}/   directory: {run.out_dir}")
        if options["inline"]:
            job_run_inline(job=run.job)
        elif options["no_wait"]:
            return
        else:
            self._follow(run)
        run.refresh_from_db()
        for row in run.history if options["inline"] else []:
            self._epoch(row)
        self._summary(run)

    def _epoch(self, row: dict[str, Any]) -> None:
        self.stdout.write(
            f"  epoch {row['epoch']}/{row.get('epochs', '?')}  train loss {row['train_loss']:.4f}"
            f"  val loss {row['val_loss']:.4f}  top-1 {row['top1']:.3f}  top-5 {row['top5']:.3f}"
            f"  {row['images_per_s']:.1f} img/s"
        )

    def _follow(self, run: TrainingRun) -> None:
        shown = 0
        while True:
            run.refresh_from_db()
            run = training_run_sync(run=run)
            for row in run.history[shown:]:
                self._epoch(row)
            shown = len(run.history)
            if run.status in FINISHED:
                return
            time.sleep(1)

    def _summary(self, run: TrainingRun) -> None:
        if run.status == TrainingRun.Status.SUCCEEDED:
            m = run.metrics
            self.stdout.write(
                self.style.SUCCESS(
                    f"run {run.pk} succeeded: top-1 {m.get('top1'):.4f}, top-5 {m.get('top5'):.4f}"
                    f" on {m.get('num_val')} validation images;"
                    f" checkpoint {run.out_dir}/checkpoint.pt"
                )
            )
            return
        self.stdout.write(run.log_tail[-2000:])
        raise CommandError(f"run {run.pk} {run.status}")
