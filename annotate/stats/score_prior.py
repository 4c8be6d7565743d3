"""The pre-labeller's machine score as a calibrated prior for consensus.

A machine score is not a probability: a 0.9 from the pre-labeller may mean 60% or 99% of such
images show the synset, and that changes from synset to synset. Used raw as a prior it would make
the posterior (and so the accepted precision) wrong. So its calibration is learnt per synset from
the votes themselves (Platt scaling with latent labels):

    P(shows | clear, score) = sigmoid(a + b * logit(score))

fitted by EM together with the synset's latent-class model: each voted item's truth is a posterior
over shows / does not show / ambiguous, so the regression's targets are soft and are recomputed
with the prior they imply, until the likelihood of all the votes stops improving. Only a slope that
is positive and significant (likelihood-ratio test against "the score says nothing") is kept; with
b = 0 the prior is the synset's prevalence, exactly as without a machine score. Threshold choice
then simulates items with these priors (annotate.stats.policy), so the chosen thresholds keep the
precision target with the prior in play.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from annotate.stats.latent import SynsetModel, logit

MIN_ITEMS = 30  # voted items with a score before a calibration is attempted
RIDGE = 1.0  # Gaussian prior on the slope: a few pseudo-observations' worth, tames tiny fits
LR_TEST = 3.84  # chi-squared(1) at 5%: the score must explain the votes better than no score


@dataclass(frozen=True)
class ScoreFit:
    items: int = 0
    intercept: float = 0.0
    slope: float = 0.0
    gain: float = 0.0  # log-likelihood gained over "the score says nothing"
    used: bool = False


def _log_likelihood(
    model: SynsetModel, prior: np.ndarray, lp: np.ndarray, ln: np.ndarray, la: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    clear = 1.0 - model.ambiguous
    p = np.clip(prior, 1e-6, 1 - 1e-6)
    a = np.log(clear * p) + lp
    b = np.log(clear * (1.0 - p)) + ln
    c = math.log(max(model.ambiguous, 1e-12)) + la
    top = np.logaddexp(np.logaddexp(a, b), c)
    return float(top.sum()), np.exp(a - top), np.exp(b - top)


def _m_step(x: np.ndarray, target: np.ndarray, weight: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """A few Newton steps of weighted logistic regression with soft targets (ridge on slope)."""
    design = np.column_stack([np.ones_like(x), x])
    penalty = np.diag([1e-6, RIDGE])
    for _ in range(4):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        grad = design.T @ (weight * (target - p)) - penalty @ beta
        hess = (design * (weight * p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def fit_score_prior(
    model: SynsetModel,
    *,
    lp: ArrayLike,
    ln: ArrayLike,
    la: ArrayLike,
    scores: ArrayLike,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> tuple[SynsetModel, ScoreFit]:
    """Fit the score's calibration from items' summed vote logs (per item: log P(votes | shows),
    | not, | ambiguous, under the fitted `model`) and their machine scores (NaN: none).
    Returns the model with score_intercept / score_slope set (slope 0 when not used)."""
    lp_a, ln_a, la_a = (np.asarray(v, dtype=float) for v in (lp, ln, la))
    s = np.asarray(scores, dtype=float)
    # Only items with votes say anything about the score (an unvoted item's soft label is the
    # prior itself), and only items with a score take part in the regression.
    use = ~np.isnan(s) & ((lp_a != 0) | (ln_a != 0))
    unused = replace(model, score_intercept=0.0, score_slope=0.0)
    n = int(use.sum())
    if n < MIN_ITEMS:
        return unused, ScoreFit(items=n)
    x = logit(s[use])
    lp_u, ln_u, la_u = lp_a[use], ln_a[use], la_a[use]
    base = math.log(model.prevalence / (1.0 - model.prevalence))
    ll_none, _, _ = _log_likelihood(model, np.full(n, model.prevalence), lp_u, ln_u, la_u)
    beta = np.array([base, 0.0])
    previous = -np.inf
    ll = ll_none
    for _ in range(max_iter):
        prior = 1.0 / (1.0 + np.exp(-(beta[0] + beta[1] * x)))
        ll, r_pos, r_neg = _log_likelihood(model, prior, lp_u, ln_u, la_u)
        if abs(ll - previous) < tol * max(1.0, abs(ll)):
            break
        previous = ll
        clear = r_pos + r_neg
        target = np.divide(r_pos, clear, out=np.full(n, 0.5), where=clear > 0)
        beta = _m_step(x, target, clear, beta)
    gain = ll - ll_none
    used = bool(beta[1] > 0 and 2.0 * gain > LR_TEST)
    fit = ScoreFit(items=n, intercept=float(beta[0]), slope=float(beta[1]), gain=gain, used=used)
    if not used:
        return unused, fit
    return replace(model, score_intercept=fit.intercept, score_slope=fit.slope), fit
