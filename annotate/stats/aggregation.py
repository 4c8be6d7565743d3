"""Worker-weighted aggregation of binary votes: Dawid-Skene (two-coin) by EM, vectorised.

Compared with crowd-kit's DawidSkene (a general multi-class implementation over pandas), this one is
specialised to yes/no votes and adds what a dataset builder has at hand:

- gold items whose truth is known are clamped (they measure workers without being guessed),
- Beta priors on each worker's sensitivity and specificity shrink sparse workers towards the pool
  (no 0/1 estimates after three votes),
- a class prior per group (per synset: prevalence differs between synsets),
- everything is `np.bincount` over the vote arrays, so an EM step costs O(votes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

EPS = 1e-6


@dataclass
class DawidSkeneResult:
    posterior: np.ndarray  # P(item is positive), per item index
    sensitivity: np.ndarray  # P(yes | positive), per worker index
    specificity: np.ndarray  # P(no | negative), per worker index
    prevalence: np.ndarray  # P(positive), per group index
    iterations: int
    converged: bool

    @property
    def labels(self) -> np.ndarray:
        return self.posterior >= 0.5


def majority_vote(items: ArrayLike, labels: ArrayLike, n_items: int | None = None) -> np.ndarray:
    """Share of yes votes per item (0.5 for items without votes); >= 0.5 means yes on a tie."""
    item_arr = np.asarray(items, dtype=np.int64)
    label_arr = np.asarray(labels, dtype=float)
    size = n_items if n_items is not None else (int(item_arr.max()) + 1 if item_arr.size else 0)
    yes = np.bincount(item_arr, weights=label_arr, minlength=size)
    total = np.bincount(item_arr, minlength=size).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, yes / np.maximum(total, 1), 0.5)
    return share


def dawid_skene(
    items: ArrayLike,
    workers: ArrayLike,
    labels: ArrayLike,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
    groups: ArrayLike | None = None,
    gold: ArrayLike | None = None,
    prior_accuracy: float = 0.75,
    prior_strength: float = 4.0,
    max_iter: int = 100,
    tol: float = 1e-5,
) -> DawidSkeneResult:
    """Binary two-coin Dawid-Skene with gold clamping, Beta priors and per-group prevalence.

    items, workers, labels: one entry per vote (item index, worker index, 0/1).
    groups: group index per item (e.g. synset), for a prevalence per group; default one group.
    gold: per item, 1/0 for known truth, -1 (or NaN) for unknown.
    prior_accuracy, prior_strength: Beta prior on sensitivity and specificity, as pseudo-votes.
    """
    item_arr = np.asarray(items, dtype=np.int64)
    worker_arr = np.asarray(workers, dtype=np.int64)
    label_arr = np.asarray(labels, dtype=float)
    if not (item_arr.shape == worker_arr.shape == label_arr.shape):
        raise ValueError("items, workers and labels must have the same length")
    n_i = n_items if n_items is not None else (int(item_arr.max()) + 1 if item_arr.size else 0)
    n_w = n_workers if n_workers is not None else int(worker_arr.max(initial=-1)) + 1
    group_arr = np.zeros(n_i, dtype=np.int64) if groups is None else np.asarray(groups, np.int64)
    n_g = int(group_arr.max()) + 1 if group_arr.size else 1

    gold_arr = np.full(n_i, -1.0) if gold is None else np.asarray(gold, dtype=float).copy()
    gold_arr[np.isnan(gold_arr)] = -1.0
    known = gold_arr >= 0

    a_prior = prior_accuracy * prior_strength
    b_prior = (1.0 - prior_accuracy) * prior_strength
    yes = label_arr
    no = 1.0 - label_arr

    # Initialise with the majority vote (gold where known).
    q = majority_vote(item_arr, label_arr, n_i)
    q = np.where(known, gold_arr, q)

    sens = np.full(n_w, prior_accuracy)
    spec = np.full(n_w, prior_accuracy)
    prev = np.full(n_g, 0.5)
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - reported as iterations
        # M-step: worker confusion (with Beta priors) and per-group prevalence (Laplace).
        q_vote = q[item_arr]
        pos_yes = np.bincount(worker_arr, weights=q_vote * yes, minlength=n_w)
        pos_all = np.bincount(worker_arr, weights=q_vote, minlength=n_w)
        neg_no = np.bincount(worker_arr, weights=(1.0 - q_vote) * no, minlength=n_w)
        neg_all = np.bincount(worker_arr, weights=1.0 - q_vote, minlength=n_w)
        sens = (pos_yes + a_prior) / (pos_all + a_prior + b_prior)
        spec = (neg_no + a_prior) / (neg_all + a_prior + b_prior)
        sens = np.clip(sens, EPS, 1 - EPS)
        spec = np.clip(spec, EPS, 1 - EPS)
        prev = (np.bincount(group_arr, weights=q, minlength=n_g) + 1.0) / (
            np.bincount(group_arr, minlength=n_g) + 2.0
        )
        prev = np.clip(prev, EPS, 1 - EPS)

        # E-step: log-odds of each item from its group's prior and its votes.
        llr_yes = np.log(sens) - np.log(1.0 - spec)
        llr_no = np.log(1.0 - sens) - np.log(spec)
        vote_llr = np.where(label_arr > 0.5, llr_yes[worker_arr], llr_no[worker_arr])
        logit = np.log(prev / (1.0 - prev))[group_arr] + np.bincount(
            item_arr, weights=vote_llr, minlength=n_i
        )
        new_q = 1.0 / (1.0 + np.exp(-np.clip(logit, -500, 500)))
        new_q = np.where(known, gold_arr, new_q)
        delta = float(np.max(np.abs(new_q - q))) if n_i else 0.0
        q = new_q
        if delta < tol:
            converged = True
            break
    return DawidSkeneResult(
        posterior=q,
        sensitivity=sens,
        specificity=spec,
        prevalence=prev,
        iterations=iteration,
        converged=converged,
    )


def vote_weights(
    sensitivity: np.ndarray,
    specificity: np.ndarray,
    votes_per_worker: np.ndarray,
    max_weight: float = 3.0,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """How many "average votes" each worker's yes and no are worth (their log-likelihood ratio over
    the vote-weighted pool's). A coin-flipper's votes weigh 0; adversarial workers are clipped to 0.

    Returns (weight_yes, weight_no, pool_llr_yes, pool_llr_no).
    """
    sens = np.clip(np.asarray(sensitivity, float), EPS, 1 - EPS)
    spec = np.clip(np.asarray(specificity, float), EPS, 1 - EPS)
    llr_yes = np.log(sens / (1.0 - spec))
    llr_no = np.log(spec / (1.0 - sens))
    counts = np.asarray(votes_per_worker, float)
    total = counts.sum()
    if total <= 0:
        return np.ones_like(sens), np.ones_like(sens), 1.0, 1.0
    pool_yes = max(float((np.maximum(llr_yes, 0) * counts).sum() / total), 1e-3)
    pool_no = max(float((np.maximum(llr_no, 0) * counts).sum() / total), 1e-3)
    w_yes = np.clip(llr_yes / pool_yes, 0.0, max_weight)
    w_no = np.clip(llr_no / pool_no, 0.0, max_weight)
    return w_yes, w_no, pool_yes, pool_no
