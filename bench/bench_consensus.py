"""Quality vs cost through the real API: a simulated crowd (accuracies 0.65-0.95, 10% spammers)
labels 5 synsets x 200 candidates of increasing difficulty with known truth, once per consensus
strategy, through gunicorn + PostgreSQL + a Celery worker (refit jobs), driven by simulate_crowd's
HTTP client. Baselines side by side: fixed 3-vote and 5-vote majority (what CVAT offers)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from bench import table
from bench.annotate_harness import (
    GOLD_PER_SYNSET,
    PER_SYNSET,
    SYNSETS,
    bench_env,
    ensure_database,
    free_port,
    harness,
    services,
)

ANNOTATORS = 40
CONCURRENCY = 10
SEED = 7
# The open-crowd profile: trust routing (floor 0.85, a pool of the 5 best, gold qualification
# first) with a vote cap of 6 (futility escalation does the rest).
ROUTING = {"route": 0.85, "pool": 5, "cap": 6}
WEIGHTED = {"method": "dynamic_weighted"}
TARGET_LABEL = "dynamic + weighting + trust routing + calibrated machine-score prior"
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("fixed 3-vote majority", {"method": "majority", "k": 3}),
    ("fixed 5-vote majority", {"method": "majority", "k": 5}),
    ("dynamic consensus", {"method": "dynamic"}),
    ("dynamic + worker weighting", {"method": "dynamic_weighted"}),
    ("dynamic + weighting + calibrated machine-score prior", {**WEIGHTED, "prior": 1.0}),
    ("dynamic + weighting + trust routing", {**WEIGHTED, **ROUTING}),
    (TARGET_LABEL, {**WEIGHTED, **ROUTING, "prior": 1.0}),
    (f"{TARGET_LABEL}, crowd seed 8", {**WEIGHTED, **ROUTING, "prior": 1.0, "seed": 8}),
    (f"{TARGET_LABEL}, crowd seed 9", {**WEIGHTED, **ROUTING, "prior": 1.0, "seed": 9}),
    (
        "dynamic + weighting, 97% target",
        {"method": "dynamic_weighted", "target": 0.97, "reject_target": 0.95},
    ),
]  # fmt: skip
MAX_ROUNDS = 6


def run_strategy(spec: dict[str, Any]) -> dict[str, Any]:
    """In the harness process: build the data, let the crowd work through the API until nothing
    needs votes (refitting between rounds as the `consensus` command would), then score."""
    from django.db.models import F

    from annotate.models import Annotator, QueueItem, SynsetConsensus, Vote
    from annotate.services.consensus import consensus_job
    from annotate.services.simulate import Truth, crowd_pool, run_http, sim_users
    from bench.annotate_harness import build_candidates
    from curation.models import Candidate, Job, Synset
    from curation.services.jobs import job_run_inline

    data = build_candidates(seed=spec["seed"], machine_scores=bool(spec.get("prior")))
    truth = Truth(difficulty=data["difficulty"])
    for key, value in data["truth"].items():
        sha, wnid = key.split("|")
        truth.labels[(sha, wnid)] = value
    for key, value in data["item_difficulty"].items():
        sha, wnid = key.split("|")
        truth.item_difficulty[(sha, wnid)] = value
    wnids = [s[0] for s in SYNSETS]
    for synset in Synset.objects.filter(wnid__in=wnids):
        SynsetConsensus.objects.update_or_create(
            synset=synset, defaults={"method": spec["method"], "majority_votes": spec.get("k", 3)}
        )
    workers = crowd_pool(spec["annotators"], accuracy=(0.65, 0.95), spammers=0.1, seed=spec["seed"])
    users = sim_users(workers)
    Annotator.objects.update(
        status=Annotator.Status.ACTIVE, status_reason="", gold_answers=0, gold_correct=0,
        sensitivity=None, specificity=None, trust=None, weight_yes=1.0, weight_no=1.0,
        votes_count=0, agreement=None, median_ms=None, fitted_at=None,
    )  # fmt: skip
    tokens = {name: token for name, (_, token) in users.items()}
    started = time.perf_counter()
    rounds = 0
    sent = 0
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 - reported
        stats = run_http(
            workers, base_url=spec["base_url"], truth=truth, tokens=tokens,
            concurrency=spec["concurrency"], seed=spec["seed"],
        )  # fmt: skip
        sent += stats.votes_sent
        deadline = time.monotonic() + 300
        while (
            Job.objects.filter(kind="consensus", status__in=["queued", "running"]).exists()
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        job_run_inline(job=consensus_job(force=True, reason="bench round"))
        wanting = QueueItem.objects.filter(open=True, leased__lt=F("need"), synset__active=True)
        if not wanting.exists():
            break
    seconds = time.perf_counter() - started

    rows = list(
        Candidate.objects.filter(synset__wnid__in=wnids)
        .exclude(gold__isnull=False)
        .values_list("image__sha256", "synset__wnid", "state")
    )
    per: dict[str, dict[str, int]] = {w: {} for w in wnids}
    for sha, wnid, state in rows:
        label = truth.labels[(sha, wnid)]
        key = f"{state}_{'pos' if label else 'neg'}"
        per[wnid][key] = per[wnid].get(key, 0) + 1
    candidate_votes = dict(
        (w, Vote.objects.filter(synset__wnid=w, candidate__gold__isnull=True).count())
        for w in wnids
    )
    decided_votes = Vote.objects.filter(
        synset__wnid__in=wnids, candidate__gold__isnull=True, candidate__state__in=Candidate.DECIDED
    ).count()
    consensus = {
        c.synset.wnid: {
            "threshold_accept": c.threshold_accept,
            "threshold_reject": c.threshold_reject,
            "predicted_precision": c.predicted_precision,
            "predicted_votes": c.predicted_votes,
            "model": c.model,
        }
        for c in SynsetConsensus.objects.filter(synset__wnid__in=wnids).select_related("synset")
    }
    stored = Vote.objects.filter(annotator__user__username__startswith="sim-").count()
    scored = [
        (score, truth.labels[(sha, wnid)])
        for sha, wnid, score in Candidate.objects.filter(
            synset__wnid__in=wnids, machine_score__isnull=False
        ).values_list("image__sha256", "synset__wnid", "machine_score")
    ]
    return {
        "score_auc": _auc(scored) if scored else None,
        "per_synset": per,
        "candidate_votes": candidate_votes,
        "decided_votes": decided_votes,
        "gold_votes": Vote.objects.filter(candidate__gold__isnull=False).count(),
        "sent": sent,
        "stored": stored,
        "blocked": Annotator.objects.filter(status=Annotator.Status.BLOCKED).count(),
        "rounds": rounds,
        "seconds": seconds,
        "consensus": consensus,
    }


def _auc(scored: list[tuple[float, bool]]) -> float:
    """Area under the ROC curve of the machine score against the truth (Mann-Whitney)."""
    import numpy as np
    from scipy.stats import rankdata

    scores = np.array([s for s, _ in scored])
    labels = np.array([t for _, t in scored])
    ranks = rankdata(scores)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _score(result: dict[str, Any]) -> dict[str, float]:
    total = {"acc_pos": 0, "acc_neg": 0, "rej_pos": 0, "rej_neg": 0, "esc": 0, "open": 0}
    for counts in result["per_synset"].values():
        total["acc_pos"] += counts.get("accepted_pos", 0)
        total["acc_neg"] += counts.get("accepted_neg", 0)
        total["rej_pos"] += counts.get("rejected_pos", 0)
        total["rej_neg"] += counts.get("rejected_neg", 0)
        total["esc"] += counts.get("escalated_pos", 0) + counts.get("escalated_neg", 0)
        total["open"] += sum(
            counts.get(f"{s}_{t}", 0) for s in ("pending", "in_review") for t in ("pos", "neg")
        )
    accepted = total["acc_pos"] + total["acc_neg"]
    rejected = total["rej_pos"] + total["rej_neg"]
    decided = accepted + rejected
    votes = sum(result["candidate_votes"].values())
    n = PER_SYNSET * len(SYNSETS)
    return {
        "accept_precision": total["acc_pos"] / accepted if accepted else float("nan"),
        "reject_precision": total["rej_neg"] / rejected if rejected else float("nan"),
        "votes_per_decided": votes / decided if decided else float("inf"),
        "decided_votes_per_decided": result["decided_votes"] / decided if decided else float("inf"),
        "escalated": total["esc"] / n,
        "undecided": total["open"] / n,
        "recall": total["acc_pos"]
        / max(1, total["acc_pos"] + total["rej_pos"] + sum(
            c.get("escalated_pos", 0) + c.get("pending_pos", 0) + c.get("in_review_pos", 0)
            for c in result["per_synset"].values()
        )),
    }  # fmt: skip


def oracle_bound() -> dict[str, float]:
    """What an oracle could do with this crowd: it knows every worker's true accuracy, each
    synset's true prevalence and ambiguous share, and spammers are excluded from the start; its
    thresholds are the cheapest meeting the same precision targets (simulated, 20,000 items per
    synset). The information available in the votes, not our estimates, limits this row."""
    import numpy as np

    from annotate.services.simulate import crowd_pool
    from annotate.stats.latent import SynsetModel
    from annotate.stats.policy import WorkerPool, choose_thresholds

    crowd = [w for w in crowd_pool(ANNOTATORS, accuracy=(0.65, 0.95), spammers=0.1, seed=SEED)]
    accuracy = np.array([w.accuracy for w in crowd if w.kind == "honest"])
    pool = WorkerPool(accuracy, accuracy, np.ones(accuracy.size))
    votes = decided = accepted = correct = escalated = 0.0
    for _, prevalence, _, ambiguous in SYNSETS:
        model = SynsetModel(
            prevalence=prevalence, ambiguous=max(ambiguous, 1e-4),
            sensitivity=float(accuracy.mean()), specificity=float(accuracy.mean()),
        )  # fmt: skip
        stats = choose_thresholds(
            model, target_precision=0.995, target_reject_precision=0.98, cap=10, min_votes=2,
            pool=pool, n_items=20_000, seed=SEED,
        )  # fmt: skip
        votes += stats.votes
        decided += stats.decided
        escalated += stats.escalated
        share_accepted = stats.recall * prevalence * (1 - ambiguous) / stats.accept_precision
        accepted += share_accepted
        correct += share_accepted * stats.accept_precision
    n = len(SYNSETS)
    return {
        "accept_precision": correct / accepted,
        "votes_per_decided": votes / decided,
        "escalated": escalated / n,
    }


def run() -> tuple[str, str]:
    ensure_database()
    rows, results = [], {}
    only = os.environ.get("BENCH_CONSENSUS_ONLY", "")
    for label, spec in STRATEGIES:
        if only and not any(part.strip() == label for part in only.split(";")):
            continue
        env = bench_env(
            ANNOTATE_MACHINE_PRIOR_WEIGHT=str(spec.get("prior", 0.0)),
            ANNOTATE_TARGET_PRECISION=str(spec.get("target", 0.995)),
            ANNOTATE_REJECT_PRECISION=str(spec.get("reject_target", 0.98)),
            ANNOTATE_ROUTE_MIN_TRUST=str(spec.get("route", 0.0)),
            ANNOTATE_VOTE_CAP=str(spec.get("cap", 10)),
            ANNOTATE_ROUTE_POOL=str(spec.get("pool", 12)),
            # Decided inside each submit: the crowd is simulated round by round and asks again at
            # once; the drain (production default) applies the same rule moments later.
            ANNOTATE_CONSENSUS_ASYNC="false",
        )
        with services(env, free_port()) as svc:
            params = {
                **spec,
                "base_url": svc.url,
                "annotators": ANNOTATORS,
                "concurrency": CONCURRENCY,
                "seed": spec.get("seed", SEED),
            }
            result = harness("consensus", env, json.dumps(params))
        score = _score(result)
        results[label] = (result, score)
        print(f"{label}: {score}", flush=True)
        rows.append(
            [
                label,
                f"{score['accept_precision']:.2%}",
                f"{score['reject_precision']:.2%}",
                f"**{score['votes_per_decided']:.2f}**",
                f"{score['decided_votes_per_decided']:.2f}",
                f"{score['escalated']:.1%}",
                f"{score['undecided']:.1%}",
                f"{score['recall']:.1%}",
                f"{result['gold_votes']:,}",
                f"{result['blocked']}",
                f"{result['sent']:,} / {result['stored']:,}",
                f"{result['seconds']:.0f} s",
            ]
        )
    bound = oracle_bound()
    rows.append(
        [
            "*oracle bound* (true accuracies known, no spammers)",
            f"{bound['accept_precision']:.2%}",
            "≥ 98%",
            f"{bound['votes_per_decided']:.2f}",
            "—",
            f"{bound['escalated']:.1%}",
            "—",
            "—",
            "—",
            "—",
            "simulated",
            "—",
        ]
    )
    if only:  # a partial run (tuning): the rows, no verdict
        return "Annotation: consensus, partial run", "\n".join(" | ".join(r) for r in rows)
    best_label = TARGET_LABEL
    best = results[best_label][0]
    repeats = [results[label][1] for label in results if label.startswith(TARGET_LABEL)]
    five = results["fixed 5-vote majority"][1]

    def meets(sc: dict[str, float]) -> bool:
        return (
            sc["accept_precision"] >= 0.995
            and sc["votes_per_decided"] <= 3.5
            and sc["accept_precision"] > five["accept_precision"]
            and sc["votes_per_decided"] < five["votes_per_decided"]
        )

    n_met = sum(meets(sc) for sc in repeats)
    mean_votes = sum(sc["votes_per_decided"] for sc in repeats) / len(repeats)
    worst_precision = min(sc["accept_precision"] for sc in repeats)
    cheap = results["dynamic + weighting, 97% target"][1]
    dominates = (
        cheap["accept_precision"] > five["accept_precision"]
        and cheap["votes_per_decided"] < five["votes_per_decided"]
    )
    per_rows = []
    for wnid, prevalence, difficulty, ambiguous in SYNSETS:
        counts = best["per_synset"][wnid]
        acc = counts.get("accepted_pos", 0) + counts.get("accepted_neg", 0)
        rej = counts.get("rejected_pos", 0) + counts.get("rejected_neg", 0)
        esc = counts.get("escalated_pos", 0) + counts.get("escalated_neg", 0)
        c = best["consensus"].get(wnid, {})
        model = c.get("model") or {}
        per_rows.append(
            [
                wnid,
                f"{prevalence:.0%} / {difficulty:.2f} / {ambiguous:.0%}",
                f"{counts.get('accepted_pos', 0) / acc:.2%}" if acc else "—",
                f"{counts.get('rejected_neg', 0) / rej:.2%}" if rej else "—",
                f"{best['candidate_votes'][wnid] / max(1, acc + rej):.2f}",
                f"{esc / PER_SYNSET:.1%}",
                f"{c.get('threshold_accept') or 0:.4f} / {c.get('threshold_reject') or 0:.3f}",
                f"{model.get('difficulty', 0):+.2f}",
                f"{model.get('score_intercept', 0):+.2f} / {model.get('score_slope', 0):.2f}",
            ]
        )
    auc = best.get("score_auc")
    body = [
        f"{len(SYNSETS)} synsets x {PER_SYNSET} candidates (+{GOLD_PER_SYNSET} gold each), "
        f"{ANNOTATORS} simulated annotators (accuracy uniform 0.65-0.95, 10% spammers: half random "
        f"clickers, half yes-to-everything), {CONCURRENCY} requests in flight, tasks of 48 with "
        "~10% hidden gold, all through the HTTP API of gunicorn + PostgreSQL with a Celery worker "
        "running refit jobs; between rounds the `consensus` job runs, until nothing needs votes. "
        "Votes per decided candidate = every vote cast on the 1,000 candidates (calibration, "
        "escalated and blocked annotators' votes included, gold excluded) / accepted+rejected; "
        "the next column counts only votes on decided candidates. Rows with a machine-score prior "
        "get a synthetic pre-labeller score per candidate, class-conditional logits N(+-0.906, 1): "
        f"measured AUC {auc:.3f} against the truth"
        + (
            " (it is not a probability: consensus calibrates it per synset from the votes)."
            if auc
            else "."
        ),
        "",
        table(
            [
                "strategy",
                "accepted precision",
                "rejected precision",
                "votes / decided",
                "votes on decided / decided",
                "escalated",
                "undecided",
                "recall",
                "gold votes",
                "blocked",
                "votes sent / stored",
                "time",
            ],
            rows,
        ),
        "",
        f"Targets ({best_label}; open-crowd profile: ANNOTATE_ROUTE_MIN_TRUST=0.85, "
        "ANNOTATE_ROUTE_POOL=5, ANNOTATE_VOTE_CAP=6, ANNOTATE_MACHINE_PRIOR_WEIGHT=1): accepted "
        "precision >= 99.5% with <= 3.5 votes per decided candidate, strictly better than fixed-5 "
        f"majority on both: **{'met' if n_met == len(repeats) else 'not met'}**: met in {n_met} of "
        f"{len(repeats)} runs (crowd seeds 7, 8, 9: mean {mean_votes:.2f} votes per decided, "
        f"lowest accepted precision {worst_precision:.2%}; fixed-5 majority "
        f"{five['accept_precision']:.2%} at {five['votes_per_decided']:.2f}). At a 97% target "
        f"plain dynamic + weighting {'dominates' if dominates else 'does not dominate'} fixed-5 "
        f"majority ({cheap['accept_precision']:.2%} at {cheap['votes_per_decided']:.2f} votes). "
        "The oracle row is what perfect knowledge of every worker's accuracy would need at the "
        "99.5% target if every honest annotator voted on everything, with no machine score: the "
        "votes of this crowd alone carry too little information for 99.5% at 3.5 votes. What "
        "closes the gap: trust routing (newcomers answer 20 gold first; only the 5 best or those "
        "above the floor vote on regular items; the rest give calibration votes), the machine "
        "score as a prior calibrated per synset from the votes, and futility escalation (an item "
        "no run of agreeing votes could decide goes to a curator at once). A run's accepted "
        "precision moves by about 0.3 point per wrong acceptance (about 340 accepted).",
        "",
        f"Per synset ({best_label}, crowd seed 7): prevalence / accuracy drop / ambiguous share; "
        "the thresholds chosen by simulation; the fitted synset difficulty; the machine score's "
        "fitted calibration (intercept / slope of logit P(shows) on logit(score)).",
        "",
        table(
            [
                "synset",
                "difficulty",
                "accepted precision",
                "rejected precision",
                "votes / decided",
                "escalated",
                "thresholds acc / rej",
                "fitted difficulty",
                "score calibration",
            ],
            per_rows,
        ),
    ]
    return "Annotation: consensus quality vs cost (bench_consensus)", "\n".join(body)
