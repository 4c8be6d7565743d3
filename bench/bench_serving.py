"""Serving: locust with 100 simulated annotators against gunicorn + PostgreSQL (+ a Celery
worker for refits): p50/p95 of next-task and submit beside a baseline endpoint (token auth, role
check, one query: the framework's floor), votes/s, and the exact count check after the run (votes
sent = votes stored, none doubled). A second, saturating run (think time 1-3 s) shows capacity."""

from __future__ import annotations

import os

from bench import table
from bench.load import run_load


def _row(label: str, result: dict) -> list[str]:
    lat = result["latency"]
    nt, sb, base = lat.get("next-task", {}), lat.get("submit", {}), lat.get("baseline: /me", {})
    sent, check = result["sent"], result["check"]
    exact = sent["votes"] == check["stored"] and check["doubled"] == 0
    return [
        label,
        f"{nt.get('p50', 0):.0f} / **{nt.get('p95', 0):.0f}** ms",
        f"{sb.get('p50', 0):.0f} / **{sb.get('p95', 0):.0f}** ms",
        f"{base.get('p50', 0):.0f} / {base.get('p95', 0):.0f} ms",
        f"{sb.get('p95', 0) / max(base.get('p95', 1), 1):.1f}x",
        f"{sent['votes'] / result['duration']:.0f}",
        f"{sent['votes']:,} / {check['stored']:,} / {check['doubled']}",
        "yes" if exact else "**NO**",
        f"{int(nt.get('failures', 0) + sb.get('failures', 0))}",
    ]


def run() -> tuple[str, str]:
    duration = int(os.environ.get("BENCH_SERVING_SECONDS", "60"))
    realistic = run_load(users=100, duration=duration, think="10-20", background=False)
    stress = run_load(users=100, duration=max(20, duration // 2), think="1-3", background=False)
    load = os.getloadavg()
    body = [
        f"100 annotators (locust), {realistic['setup']['candidates']:,} candidates in 20 synsets, "
        f"tasks of 48 with hidden gold, {realistic['web']}, PostgreSQL, a Celery worker; "
        "each user asks for a task, answers it after a think time and submits (a person needs "
        "20-60 s per grid). Latency p50 / p95; the baseline is `GET /api/v1/annotate/me` in the "
        f"same run. Load average at the end: {load[0]:.1f} on {os.cpu_count()} cores "
        "(the machine is shared: compare runs on a quiet one).",
        "",
        table(
            [
                "scenario",
                "next-task",
                "submit",
                "baseline /me",
                "submit p95 / baseline p95",
                "votes/s",
                "votes sent / stored / doubled",
                "exact",
                "failed requests",
            ],
            [
                _row(f"think 10-20 s, {realistic['duration']} s", realistic),
                _row(f"saturating: think 1-3 s, {stress['duration']} s", stress),
            ],
        ),
        "",
        "Target: p95 <= 100 ms for both endpoints, zero lost or doubled votes.",
    ]
    return "Annotation: serving under load (bench_serving)", "\n".join(body)
