"""The voting policy of a synset, simulated: for threshold pairs, the precision of accepted and
rejected items and the votes spent (choose_thresholds picks the cheapest pair meeting the
targets), and how many more votes an undecided item may need (the leases it may have out)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from annotate.stats.latent import SynsetModel

ACCEPT_GRID = (0.95, 0.97, 0.98, 0.985, 0.99, 0.993, 0.995, 0.997, 0.998, 0.999, 0.9995)
REJECT_GRID = (0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.002, 0.001)


@dataclass(frozen=True)
class PolicyStats:
    """Outcome of the sequential voting policy under the model, per item."""

    threshold_accept: float
    threshold_reject: float
    accept_precision: float
    reject_precision: float
    decided: float  # share accepted or rejected
    escalated: float
    votes: float  # votes per item
    recall: float  # share of positives accepted

    @property
    def votes_per_decided(self) -> float:
        return self.votes / self.decided if self.decided > 0 else float("inf")


@dataclass(frozen=True)
class WorkerPool:
    """Who votes: each worker's sensitivity, specificity and share of the votes."""

    sensitivity: np.ndarray
    specificity: np.ndarray
    share: np.ndarray


def simulate_policies(
    model: SynsetModel,
    *,
    cap: int,
    min_votes: int,
    pool: WorkerPool | None = None,
    n_items: int = 20_000,
    seed: int = 0,
    accept_grid: tuple[float, ...] = ACCEPT_GRID,
    reject_grid: tuple[float, ...] = REJECT_GRID,
    scores: ArrayLike | None = None,
    prior_weight: float = 0.0,
) -> list[PolicyStats]:
    """Simulate items from the model voted on by the pool (or the average worker) and evaluate
    every threshold pair on the same simulated votes.

    With `scores` (the synset's machine scores) and a fitted score calibration, each simulated
    item draws a score from them and shows the synset with its calibrated probability, and the
    posterior uses the prior consensus would use (`prior_weight`)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n_items)
    clear = 1.0 - model.ambiguous
    is_amb = u >= clear
    prior = None
    truth_prior = model.score_prior(scores, 1.0) if scores is not None else None
    if truth_prior is not None and truth_prior.size:
        drawn = rng.integers(0, truth_prior.size, size=n_items)
        is_pos = ~is_amb & (rng.random(n_items) < truth_prior[drawn])
        used = model.score_prior(scores, prior_weight)
        prior = None if used is None else used[drawn][:, None]
    else:
        is_pos = u < clear * model.prevalence
    if pool is None:
        se = np.full((n_items, cap), model.sensitivity)
        sp = np.full((n_items, cap), model.specificity)
        se_w = sp_w = None
    else:
        share = np.asarray(pool.share, dtype=float)
        who = rng.choice(share.size, size=(n_items, cap), p=share / share.sum())
        se_w = np.asarray(pool.sensitivity, dtype=float)[who]
        sp_w = np.asarray(pool.specificity, dtype=float)[who]
        se, sp = model.worker_accuracy(se_w, sp_w)
    p_yes = np.where(is_pos[:, None], se, 1.0 - sp)
    p_yes = np.where(is_amb[:, None], model.ambiguous_yes, p_yes)
    votes = (rng.random((n_items, cap)) < p_yes).astype(float)
    lp_v, ln_v, la_v = model.vote_logs(votes, se_w, sp_w)
    conf = model.posterior(
        np.cumsum(lp_v, axis=1), np.cumsum(ln_v, axis=1), np.cumsum(la_v, axis=1), prior
    )
    counted = np.arange(1, cap + 1)[None, :] >= min_votes
    truth_pos = is_pos
    results = []
    for t_acc in accept_grid:
        up = (conf >= t_acc) & counted
        for t_rej in reject_grid:
            down = (conf <= t_rej) & counted
            stop = up | down
            any_stop = stop.any(axis=1)
            first = np.where(any_stop, stop.argmax(axis=1), cap - 1)
            rows = np.arange(n_items)
            accepted = any_stop & up[rows, first]
            rejected = any_stop & ~accepted
            n_acc, n_rej = accepted.sum(), rejected.sum()
            results.append(
                PolicyStats(
                    threshold_accept=t_acc,
                    threshold_reject=t_rej,
                    accept_precision=float(truth_pos[accepted].mean()) if n_acc else 1.0,
                    reject_precision=float((~truth_pos[rejected]).mean()) if n_rej else 1.0,
                    decided=float((n_acc + n_rej) / n_items),
                    escalated=float((~any_stop).mean()),
                    votes=float((first + 1).mean()),
                    recall=float(accepted[truth_pos].mean()) if truth_pos.any() else 0.0,
                )
            )
    return results


def choose_thresholds(
    model: SynsetModel,
    *,
    target_precision: float,
    target_reject_precision: float,
    cap: int,
    min_votes: int = 1,
    pool: WorkerPool | None = None,
    n_items: int = 20_000,
    seed: int = 0,
    scores: ArrayLike | None = None,
    prior_weight: float = 0.0,
) -> PolicyStats:
    """The cheapest (votes per decided item) threshold pair whose simulated accepted and rejected
    precision meet the targets; the strictest pair if none does."""
    results = simulate_policies(
        model, cap=cap, min_votes=min_votes, pool=pool, n_items=n_items, seed=seed,
        scores=scores, prior_weight=prior_weight,
    )  # fmt: skip
    meeting = [
        r
        for r in results
        if r.accept_precision >= target_precision
        and r.reject_precision >= target_reject_precision
        and r.decided > 0
    ]
    if meeting:
        return min(meeting, key=lambda r: (r.votes_per_decided, -r.threshold_accept))
    return max(results, key=lambda r: (r.threshold_accept, -r.threshold_reject))


def votes_needed(
    model: SynsetModel,
    lp: ArrayLike,
    ln: ArrayLike,
    la: ArrayLike,
    raw_votes: ArrayLike,
    *,
    threshold_accept: float,
    threshold_reject: float,
    cap: int,
    min_votes: int = 1,
    prior: ArrayLike | None = None,
) -> np.ndarray:
    """Fewest further votes of the synset's average worker after which a decision is possible
    (all yes or all no), bounded by the cap: how many leases an undecided item may have out."""
    need, _ = _first_decision(
        model, lp, ln, la, raw_votes, threshold_accept=threshold_accept,
        threshold_reject=threshold_reject, cap=cap, min_votes=min_votes, prior=prior,
    )  # fmt: skip
    return need


def decision_reachable(
    model: SynsetModel,
    lp: ArrayLike,
    ln: ArrayLike,
    la: ArrayLike,
    raw_votes: ArrayLike,
    *,
    threshold_accept: float,
    threshold_reject: float,
    cap: int,
    min_votes: int = 1,
    prior: ArrayLike | None = None,
) -> np.ndarray:
    """Whether any run of agreeing votes of the synset's average worker, within the cap, would
    decide the item: when not even that would, further votes are spent for nothing."""
    _, found = _first_decision(
        model, lp, ln, la, raw_votes, threshold_accept=threshold_accept,
        threshold_reject=threshold_reject, cap=cap, min_votes=min_votes, prior=prior,
    )  # fmt: skip
    return found


def _first_decision(
    model: SynsetModel,
    lp: ArrayLike,
    ln: ArrayLike,
    la: ArrayLike,
    raw_votes: ArrayLike,
    *,
    threshold_accept: float,
    threshold_reject: float,
    cap: int,
    min_votes: int,
    prior: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray]:
    lp = np.asarray(lp, dtype=float)
    ln = np.asarray(ln, dtype=float)
    la = np.asarray(la, dtype=float)
    raw = np.asarray(raw_votes, dtype=np.int64)
    room = np.maximum(cap - raw, 0)
    need = room.copy()
    found = np.zeros(raw.shape, dtype=bool)
    done = room == 0
    se, sp, eta = model.sensitivity, model.specificity, model.ambiguous_yes
    for k in range(1, cap + 1):
        enough = (raw + k) >= min_votes
        up = model.posterior(
            lp + k * math.log(se), ln + k * math.log(1 - sp), la + k * math.log(eta), prior
        )
        down = model.posterior(
            lp + k * math.log(1 - se), ln + k * math.log(sp), la + k * math.log(1 - eta), prior
        )
        hit = ~done & enough & ((up >= threshold_accept) | (down <= threshold_reject)) & (k <= room)
        need[hit] = k
        found |= hit
        done |= hit
        if done.all():
            break
    return need, found
