"""Pure evaluation of a synset's candidates under its consensus policy (no database access)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from annotate.models import SynsetConsensus
from annotate.stats.latent import SynsetModel
from annotate.stats.policy import decision_reachable, votes_needed

OPEN, ACCEPTED, REJECTED, ESCALATED = "open", "accepted", "rejected", "escalated"


@dataclass(frozen=True)
class Policy:
    method: str
    model: SynsetModel
    threshold_accept: float
    threshold_reject: float
    calibrated: bool
    majority_votes: int
    cap: int
    min_votes: int
    calibration_votes: int
    machine_prior_weight: float

    @property
    def weighted(self) -> bool:
        return self.method == SynsetConsensus.Method.DYNAMIC_WEIGHTED

    @property
    def majority(self) -> bool:
        return self.method == SynsetConsensus.Method.MAJORITY


def policy_for(consensus: SynsetConsensus | None) -> Policy:
    """The policy a synset runs under: its own settings where set, the site's otherwise."""
    method = (consensus.method if consensus else "") or settings.ANNOTATE_CONSENSUS_METHOD
    if method not in SynsetConsensus.Method.values:
        method = SynsetConsensus.Method.DYNAMIC_WEIGHTED
    override = consensus.threshold_override if consensus else None
    if override is not None:
        t_accept, t_reject = override, 1.0 - override
    else:
        t_accept = (consensus.threshold_accept if consensus else None) or (
            settings.ANNOTATE_TARGET_PRECISION
        )
        t_reject = (consensus.threshold_reject if consensus else None) or (
            1.0 - settings.ANNOTATE_REJECT_PRECISION
        )
    return Policy(
        method=method,
        model=SynsetModel.from_dict(consensus.model if consensus else None),
        threshold_accept=float(t_accept),
        threshold_reject=float(t_reject),
        calibrated=bool(consensus and consensus.calibrated),
        majority_votes=int(consensus.majority_votes if consensus else 0)
        or settings.ANNOTATE_MAJORITY_VOTES,
        cap=settings.ANNOTATE_VOTE_CAP,
        min_votes=settings.ANNOTATE_MIN_VOTES,
        calibration_votes=settings.ANNOTATE_CALIBRATION_VOTES,
        machine_prior_weight=settings.ANNOTATE_MACHINE_PRIOR_WEIGHT,
    )


@dataclass
class Evaluation:
    raw: np.ndarray  # counted votes per item
    yes: np.ndarray  # counted yes votes per item
    confidence: np.ndarray  # P(shows | votes); NaN when it has no meaning (no votes, majority)
    outcome: np.ndarray  # OPEN / ACCEPTED / REJECTED / ESCALATED per item
    need: np.ndarray  # further votes wanted now (0 when decided)
    vote_llr: np.ndarray  # per vote: log P(vote | shows) - log P(vote | not)


def evaluate(
    policy: Policy,
    *,
    n_items: int,
    vote_item: np.ndarray,
    vote_answer: np.ndarray,
    vote_sensitivity: np.ndarray,
    vote_specificity: np.ndarray,
    calibration: np.ndarray,
    machine_score: np.ndarray | None = None,
) -> Evaluation:
    """Decide every item from its counted votes under `policy` (vectorised)."""
    item = np.asarray(vote_item, dtype=np.int64)
    answer = np.asarray(vote_answer, dtype=float)
    raw = np.bincount(item, minlength=n_items)
    yes = np.bincount(item, weights=answer, minlength=n_items)
    outcome = np.full(n_items, OPEN, dtype=object)
    calibration = np.asarray(calibration, dtype=bool)
    model = policy.model

    if policy.majority:
        k = policy.majority_votes
        done = raw >= k
        outcome[done & (2 * yes > raw)] = ACCEPTED
        outcome[done & (2 * yes < raw)] = REJECTED
        outcome[done & (2 * yes == raw)] = ESCALATED
        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = np.where(raw > 0, yes / np.maximum(raw, 1), np.nan)
        need = np.where(done, 0, np.maximum(k - raw, 0))
        llr = np.where(answer > 0.5, 1.0, -1.0)
        return Evaluation(raw, yes, confidence, outcome, need, llr)

    if policy.weighted:
        lp_v, ln_v, la_v = model.vote_logs(answer, vote_sensitivity, vote_specificity)
    else:
        lp_v, ln_v, la_v = model.vote_logs(answer)
    lp = np.bincount(item, weights=lp_v, minlength=n_items)
    ln = np.bincount(item, weights=ln_v, minlength=n_items)
    la = np.bincount(item, weights=la_v, minlength=n_items)
    # The machine score counts only through its calibration, fitted from this synset's votes
    # (annotate.stats.score_prior); unfitted, the prior is the prevalence.
    prior = None
    if machine_score is not None:
        prior = model.score_prior(machine_score, policy.machine_prior_weight)
    confidence = model.posterior(lp, ln, la, prior)

    calibrating = calibration & (raw < policy.calibration_votes)
    cap = np.where(calibration, max(policy.cap, policy.calibration_votes), policy.cap)
    if policy.calibrated:
        may_decide = (raw >= policy.min_votes) & ~calibrating
        accepted = may_decide & (confidence >= policy.threshold_accept)
        rejected = may_decide & ~accepted & (confidence <= policy.threshold_reject)
        outcome[accepted] = ACCEPTED
        outcome[rejected] = REJECTED
        outcome[~accepted & ~rejected & (raw >= cap)] = ESCALATED
    reach = {
        "threshold_accept": policy.threshold_accept,
        "threshold_reject": policy.threshold_reject,
        "cap": policy.cap,
        "min_votes": policy.min_votes,
        "prior": prior,
    }
    if policy.calibrated:
        # Futility: when not even a run of agreeing votes up to the cap could decide an item,
        # it goes to a curator now instead of collecting votes that cannot change that.
        hopeless = (
            (outcome == OPEN)
            & ~calibrating
            & (raw >= policy.min_votes)
            & ~decision_reachable(model, lp, ln, la, raw, **reach)
        )
        outcome[hopeless] = ESCALATED
    need = votes_needed(model, lp, ln, la, raw, **reach)
    room = np.maximum(cap - raw, 0)
    if not policy.calibrated:
        # Until the synset's model is fitted, other items get the minimum votes and then wait.
        need = np.maximum(policy.min_votes - raw, 0)
    need = np.where(calibrating, policy.calibration_votes - raw, need)
    need = np.where(outcome == OPEN, np.minimum(need, room), 0)
    confidence = np.where(raw > 0, confidence, np.nan)
    return Evaluation(raw, yes, confidence, outcome, need, lp_v - ln_v)
