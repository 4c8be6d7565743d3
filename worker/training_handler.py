"""The `train` job: runs `python -m training` (or torchrun) as a subprocess on a gpu worker.

One chunk per run. While the process runs, RUN_DIR/metrics.jsonl is tailed into TrainingRun.history
and the Job's progress (epochs done / epochs, rate, ETA); cancel → the process group is terminated;
a non-zero exit → the run fails with the log tail. After a worker death the stale-job sweeper
re-queues the job and the chunk re-runs with --resume (checkpoint.pt holds the last epoch).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db.models.functions import Coalesce
from django.utils import timezone

from curation.models import Job, JobChunk, TrainingRun
from curation.services.jobs import ChunkSpec, JobCancelled, Progress, job_fail
from curation.services.training import log_tail, read_history

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 1.0
PID_FILE = "train.pid"


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover - no torch on this worker
        return 0


def training_command(run: TrainingRun, *, resume: bool, gpus: int) -> list[str]:
    cfg = run.config or {}
    if gpus > 1:
        head = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={gpus}", "-m", "training"]  # fmt: skip
    else:
        head = [sys.executable, "-m", "training"]
    cmd = [*head, "--data", run.dataset_version.path, "--arch", run.arch,
           "--epochs", str(run.epochs), "--out", run.out_dir]  # fmt: skip
    for key in ("batch_size", "lr", "workers", "seed", "image_size", "format", "amp", "device"):
        if key in cfg:
            cmd += [f"--{key.replace('_', '-')}", str(cfg[key])]
    if resume:
        cmd.append("--resume")
    return cmd


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a SIGKILLed worker takes training along
    except OSError:  # pragma: no cover - not Linux
        pass


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _recorded_training(out: Path) -> tuple[int, int, bool] | None:
    """(pid = process group, job attempt, leader alive) of the last training process started."""
    try:
        pid, attempt = (int(v) for v in (out / PID_FILE).read_text().split())
    except (OSError, ValueError):
        return None
    try:
        alive = b"training" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        alive = False
    return pid, attempt, alive


def terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _message(row: dict[str, Any]) -> str:
    return (
        f"epoch {row.get('epoch')}/{row.get('epochs', '?')}: train loss "
        f"{row.get('train_loss', 0):.4f}, val loss {row.get('val_loss', 0):.4f}, top-1 "
        f"{row.get('top1', 0):.3f}, top-5 {row.get('top5', 0):.3f}, "
        f"{row.get('images_per_s', 0):.1f} images/s"
    )


class TrainHandler:
    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        yield ChunkSpec(payload={"run_id": job.params["run_id"]}, size=int(job.params["epochs"]))

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        run = TrainingRun.objects.select_related("dataset_version").get(pk=chunk.payload["run_id"])
        if run.status in (TrainingRun.Status.CANCELLED, TrainingRun.Status.SUCCEEDED):
            return
        if run.cancel_requested:
            self._cancelled(run)
            raise JobCancelled(f"run {run.pk} was cancelled")
        out = Path(run.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        job.refresh_from_db(fields=["attempts"])
        recorded = _recorded_training(out)
        if recorded is not None:
            pid, attempt, alive = recorded
            if alive and attempt == job.attempts:
                # The broker redelivered a chunk that is still running (visibility timeout) in
                # this same attempt: the first delivery keeps going, this one leaves quietly.
                raise JobCancelled(f"run {run.pk} is already training (pid {pid})")
            # Left over from a dead worker's earlier attempt: the whole group, torchrun's
            # workers included, even when their leader is gone.
            _kill_group(pid, signal.SIGKILL)
        resume = (out / "checkpoint.pt").exists()
        gpus = int(run.config.get("gpus", 0)) or gpu_count()
        cmd = training_command(run, resume=resume, gpus=gpus)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.RUNNING,
            started_at=Coalesce("started_at", timezone.now()),
            log_tail="",
        )
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        with (out / "train.log").open("ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        (out / PID_FILE).write_text(f"{proc.pid} {job.attempts}")
        progress(0, message=f"{'resuming' if resume else 'starting'}: {' '.join(cmd[1:4])} ...")
        seen = 0
        try:
            while True:
                rc = proc.poll()
                rows = read_history(out)
                if len(rows) != seen:
                    # done = epochs finished, set absolutely (the chunk's own count stays 0, so a
                    # re-run chunk takes nothing back and a resumed run re-reads its history).
                    TrainingRun.objects.filter(pk=run.pk).update(history=rows)
                    Job.objects.filter(pk=job.pk).update(done=len(rows))
                    progress(0, message=_message(rows[-1]) if rows else "")
                    seen = len(rows)
                else:
                    progress(0)  # heartbeat; raises JobCancelled when the job was cancelled
                if TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
                    raise JobCancelled(f"run {run.pk} was cancelled")
                if rc is not None:
                    break
                time.sleep(POLL_SECONDS)
        except JobCancelled:
            terminate(proc)
            self._cancelled(run)
            raise
        except BaseException as exc:
            # Time limit, database trouble, worker shutdown: stop training; a retried chunk (or a
            # re-queued job) resumes from the checkpoint and marks the run running again.
            terminate(proc)
            TrainingRun.objects.filter(pk=run.pk).update(
                status=TrainingRun.Status.FAILED, finished_at=timezone.now(),
                log_tail=f"{log_tail(out)}\n[worker] stopped: {exc!r}",
            )  # fmt: skip
            raise
        finally:
            (out / PID_FILE).unlink(missing_ok=True)
        self._finished(job, run, rc, out)

    def _cancelled(self, run: TrainingRun) -> None:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.CANCELLED,
            finished_at=timezone.now(),
            log_tail=log_tail(run.out_dir),
            history=read_history(run.out_dir) if run.out_dir else [],
        )

    def _finished(self, job: Job, run: TrainingRun, rc: int, out: Path) -> None:
        tail = log_tail(out)
        history = read_history(out)
        metrics: dict[str, Any] = {}
        if rc == 0:
            try:
                metrics = json.loads((out / "metrics.json").read_text())
            except (OSError, ValueError) as exc:
                rc, tail = -1, f"{tail}\nmetrics.json unreadable: {exc}"
        if rc == 0:
            TrainingRun.objects.filter(pk=run.pk).update(
                status=TrainingRun.Status.SUCCEEDED, metrics=metrics, history=history,
                finished_at=timezone.now(), log_tail=tail,
            )  # fmt: skip
            return
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED, history=history, finished_at=timezone.now(),
            log_tail=tail,
        )  # fmt: skip
        last = [line for line in tail.splitlines() if line.strip()][-3:]
        job_fail(job_id=job.pk, error=f"training exited with code {rc}: " + " | ".join(last))

    def finalize(self, job: Job) -> dict[str, Any]:
        run = TrainingRun.objects.filter(pk=job.params["run_id"]).first()
        if run is None:
            return {}
        return {"run_id": run.pk, "top1": run.metrics.get("top1"), "top5": run.metrics.get("top5")}
