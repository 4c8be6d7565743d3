"""The per-synset latent-class model behind dynamic consensus, and its thresholds.

ImageNet (Deng et al. 2009) had a calibration subset of each synset voted on by at least ten
workers and read a confidence table P(image shows the synset | yes votes, no votes) off it.
"Majority of ten = truth" makes that table wrong exactly where it matters (hard images, spammers),
so here the truth is latent. An image of synset S is one of three classes:

- shows S (share `prevalence`): a worker says yes with probability sensitivity,
- does not show S: a worker says no with probability specificity,
- ambiguous (share `ambiguous`): workers split as if flipping a coin (`ambiguous_yes` = 1/2).

The ambiguous class is what the calibration items (10+ votes each) are for: with two or three votes
an ambiguous image looks like a noisy clear one; with ten it shows as a split. Such images should go
to a curator, not be decided by a lucky streak, so they only ever lower P(shows).

Two ways to score votes:

- unweighted ("dynamic"): every vote is the synset's average worker, so P(shows | votes) depends on
  (yes, no) only, i.e. the model *is* a confidence table; fitted by EM in closed form;
- worker-weighted ("dynamic_weighted"): each vote uses its worker's own sensitivity/specificity
  (Dawid-Skene, gold-clamped), shrunk towards 1/2 by the synset's fitted `difficulty` (a hard synset
  makes everyone less reliable; a negative difficulty means easier than the worker's average).

The stopping rule of adaptively collected items depends only on observed votes, so it is ignorable
for the likelihood: every voted item of the synset takes part in the fit.

Thresholds are chosen "in simulation" (annotate.stats.policy): items are drawn from the fitted
model, voted on by workers drawn from the active pool, and stopped by each candidate threshold
pair; the cheapest pair (votes per decided item) whose simulated precision meets the targets wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike

DIFFICULTY_GRID = tuple(np.round(np.arange(-0.6, 0.91, 0.05), 2))
PROB_MIN, PROB_MAX = 0.01, 0.995
# Priors as pseudo-counts: worker accuracy around 0.75 and a rare ambiguous class.
PRIOR_ACCURACY, PRIOR_ACCURACY_STRENGTH = 0.75, 4.0
# The ambiguous share is weakly identified (most items have 2-4 votes): it moves off 1% only on
# strong evidence, worth 200 items.
PRIOR_AMBIGUOUS_SHARE, PRIOR_AMBIGUOUS_STRENGTH = 0.01, 200.0


@dataclass(frozen=True)
class SynsetModel:
    prevalence: float = 0.5
    ambiguous: float = 0.01
    sensitivity: float = 0.75
    specificity: float = 0.75
    ambiguous_yes: float = 0.5
    difficulty: float = 0.0
    # Calibration of the machine score (annotate.stats.score_prior): P(shows | clear, score) =
    # sigmoid(score_intercept + score_slope * logit(score)); a slope of 0 means "not fitted".
    score_intercept: float = 0.0
    score_slope: float = 0.0

    def score_prior(self, scores: ArrayLike, weight: float = 1.0) -> np.ndarray | None:
        """Per-item prior P(shows | clear) from machine scores (NaN: no score, the prevalence),
        moved from the prevalence towards the calibrated value by `weight` on the logit scale;
        None when the score's calibration is not fitted (or weight is 0): use the prevalence."""
        if self.score_slope <= 0 or weight <= 0:
            return None
        s = np.asarray(scores, dtype=float)
        base = math.log(self.prevalence / (1.0 - self.prevalence))
        x = logit(np.nan_to_num(s, nan=0.5))
        calibrated = self.score_intercept + self.score_slope * x
        z = np.where(np.isnan(s), base, base + min(weight, 1.0) * (calibrated - base))
        return 1.0 / (1.0 + np.exp(-z))

    # --- per-vote likelihoods ---------------------------------------------------------------------

    def worker_accuracy(self, sens: ArrayLike, spec: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Workers' (sensitivity, specificity) on this synset: shrunk towards 1/2 by difficulty.

        Workers no better than chance (sens + spec <= 1) are treated as chance (their votes carry
        nothing), so an adversarial worker cannot flip decisions."""
        se = np.asarray(sens, dtype=float)
        sp = np.asarray(spec, dtype=float)
        keep = 1.0 - self.difficulty
        se = np.clip(0.5 + (se - 0.5) * keep, PROB_MIN, PROB_MAX)
        sp = np.clip(0.5 + (sp - 0.5) * keep, PROB_MIN, PROB_MAX)
        chance = (se + sp) <= 1.0
        return np.where(chance, 0.5, se), np.where(chance, 0.5, sp)

    def vote_logs(
        self, answers: ArrayLike, sens: ArrayLike | None = None, spec: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log P(vote | shows), log P(vote | not), log P(vote | ambiguous), per vote.

        Without sens/spec every vote is the synset's average worker (the unweighted model)."""
        yes = np.asarray(answers, dtype=float)
        if sens is None or spec is None:
            se = np.full(yes.shape, self.sensitivity)
            sp = np.full(yes.shape, self.specificity)
        else:
            se, sp = self.worker_accuracy(sens, spec)
        lp = np.where(yes > 0.5, np.log(se), np.log(1.0 - se))
        ln = np.where(yes > 0.5, np.log(1.0 - sp), np.log(sp))
        la = np.where(yes > 0.5, math.log(self.ambiguous_yes), math.log(1.0 - self.ambiguous_yes))
        # A coin-flipper's vote is a coin flip whatever the image: it says nothing at all.
        la = np.where((se == 0.5) & (sp == 0.5), math.log(0.5), la)
        return lp, ln, la

    def posterior(
        self,
        lp: ArrayLike,
        ln: ArrayLike,
        la: ArrayLike,
        prior: ArrayLike | None = None,
    ) -> np.ndarray:
        """P(shows | votes) from per-item summed vote logs; `prior` (per item, e.g. a machine
        score) replaces the odds of shows vs not-shows, keeping the ambiguous share."""
        lp = np.asarray(lp, dtype=float)
        ln = np.asarray(ln, dtype=float)
        la = np.asarray(la, dtype=float)
        clear = 1.0 - self.ambiguous
        if prior is None:
            p_pos = np.full(lp.shape, clear * self.prevalence)
        else:
            p_pos = clear * np.clip(np.asarray(prior, dtype=float), 1e-4, 1 - 1e-4)
        p_neg = clear - p_pos
        a = np.log(p_pos) + lp
        b = np.log(p_neg) + ln
        c = math.log(max(self.ambiguous, 1e-12)) + la
        top = np.logaddexp(np.logaddexp(a, b), c)
        return np.exp(a - top)

    def confidence(self, yes: ArrayLike, no: ArrayLike) -> np.ndarray:
        """P(shows | yes, no votes of the synset's average worker): the confidence table."""
        y = np.asarray(yes, dtype=float)
        n = np.asarray(no, dtype=float)
        lp = y * math.log(self.sensitivity) + n * math.log(1 - self.sensitivity)
        ln = y * math.log(1 - self.specificity) + n * math.log(self.specificity)
        la = y * math.log(self.ambiguous_yes) + n * math.log(1 - self.ambiguous_yes)
        return self.posterior(lp, ln, la)

    def table(self, cap: int) -> list[list[float]]:
        """Confidence table: row y (yes votes), column n (no votes), for y + n <= cap."""
        return [
            [round(float(self.confidence(y, n)), 6) for n in range(cap - y + 1)]
            for y in range(cap + 1)
        ]

    def as_dict(self) -> dict[str, float]:
        return {
            "prevalence": self.prevalence,
            "ambiguous": self.ambiguous,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "ambiguous_yes": self.ambiguous_yes,
            "difficulty": self.difficulty,
            "score_intercept": self.score_intercept,
            "score_slope": self.score_slope,
        }

    @classmethod
    def from_dict(cls, data: dict[str, float] | None) -> SynsetModel:
        if not data:
            return cls()
        # Ambiguous images are a coin flip by definition (older fits may hold another value).
        fields = set(cls.__dataclass_fields__) - {"ambiguous_yes"}
        return cls(**{k: float(v) for k, v in data.items() if k in fields})


DEFAULT_MODEL = SynsetModel()


def logit(p: ArrayLike) -> np.ndarray:
    """log(p / (1 - p)), with p kept inside [1e-4, 1 - 1e-4] (scores of exactly 0 or 1)."""
    q = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(q / (1.0 - q))


@dataclass
class FitInfo:
    items: int = 0
    votes: int = 0
    iterations: int = 0
    log_likelihood: float = 0.0
    posterior: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _responsibilities(
    model: SynsetModel, lp: np.ndarray, ln: np.ndarray, la: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    clear = 1.0 - model.ambiguous
    a = math.log(clear * model.prevalence) + lp
    b = math.log(clear * (1.0 - model.prevalence)) + ln
    c = math.log(model.ambiguous) + la
    top = np.logaddexp(np.logaddexp(a, b), c)
    return np.exp(a - top), np.exp(b - top), np.exp(c - top), float(top.sum())


def _update_shares(
    model: SynsetModel, r_pos: np.ndarray, r_neg: np.ndarray, r_amb: np.ndarray, y: np.ndarray,
    m: np.ndarray,
) -> SynsetModel:  # fmt: skip
    n_items = r_pos.size
    amb_a = PRIOR_AMBIGUOUS_SHARE * PRIOR_AMBIGUOUS_STRENGTH
    ambiguous = (r_amb.sum() + amb_a) / (n_items + PRIOR_AMBIGUOUS_STRENGTH)
    prevalence = (r_pos.sum() + 1.0) / (r_pos.sum() + r_neg.sum() + 2.0)
    return replace(
        model,
        prevalence=float(np.clip(prevalence, 1e-3, 1 - 1e-3)),
        ambiguous=float(np.clip(ambiguous, 1e-4, 0.5)),
    )


def fit_counts(
    yes: ArrayLike, no: ArrayLike, *, start: SynsetModel = DEFAULT_MODEL, max_iter: int = 500,
    tol: float = 1e-8,
) -> tuple[SynsetModel, FitInfo]:  # fmt: skip
    """EM (closed form) for the unweighted model from items' (yes, no) vote counts."""
    y_all = np.asarray(yes, dtype=float)
    n_all = np.asarray(no, dtype=float)
    voted = (y_all + n_all) > 0
    y, n = y_all[voted], n_all[voted]
    if y.size == 0:
        return start, FitInfo()
    m = y + n
    model = start
    previous = -np.inf
    ll = 0.0
    iteration = 0
    pa = PRIOR_ACCURACY * PRIOR_ACCURACY_STRENGTH
    for iteration in range(1, max_iter + 1):  # noqa: B007 - reported
        lp = y * math.log(model.sensitivity) + n * math.log(1 - model.sensitivity)
        ln = y * math.log(1 - model.specificity) + n * math.log(model.specificity)
        la = y * math.log(model.ambiguous_yes) + n * math.log(1 - model.ambiguous_yes)
        r_pos, r_neg, r_amb, ll = _responsibilities(model, lp, ln, la)
        sens = ((r_pos * y).sum() + pa) / ((r_pos * m).sum() + PRIOR_ACCURACY_STRENGTH)
        spec = ((r_neg * n).sum() + pa) / ((r_neg * m).sum() + PRIOR_ACCURACY_STRENGTH)
        model = _update_shares(model, r_pos, r_neg, r_amb, y, m)
        model = replace(
            model,
            sensitivity=float(np.clip(sens, 0.5 + 1e-3, PROB_MAX)),
            specificity=float(np.clip(spec, 0.5 + 1e-3, PROB_MAX)),
        )
        if abs(ll - previous) < tol * max(1.0, abs(ll)):
            break
        previous = ll
    posterior = np.full(y_all.shape, model.prevalence * (1 - model.ambiguous))
    posterior[voted] = model.confidence(y, n)
    return model, FitInfo(
        items=int(y.size), votes=int(m.sum()), iterations=iteration, log_likelihood=ll,
        posterior=posterior,
    )  # fmt: skip


def fit_weighted(
    items: ArrayLike,
    answers: ArrayLike,
    sens: ArrayLike,
    spec: ArrayLike,
    *,
    n_items: int,
    start: SynsetModel = DEFAULT_MODEL,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> tuple[SynsetModel, FitInfo]:
    """Fit the worker-weighted model: shares by EM, the synset's difficulty on a grid.

    items, answers: per vote; sens, spec: the voting worker's accuracy, per vote.
    """
    item_arr = np.asarray(items, dtype=np.int64)
    ans = np.asarray(answers, dtype=float)
    se_v = np.asarray(sens, dtype=float)
    sp_v = np.asarray(spec, dtype=float)
    if item_arr.size == 0:
        return start, FitInfo()
    y = np.bincount(item_arr, weights=ans, minlength=n_items)
    m = np.bincount(item_arr, minlength=n_items).astype(float)
    voted = m > 0
    best: tuple[float, SynsetModel, np.ndarray] | None = None
    iterations = 0
    for difficulty in DIFFICULTY_GRID:
        model = replace(start, difficulty=float(difficulty))
        lp_v, ln_v, _ = model.vote_logs(ans, se_v, sp_v)
        lp = np.bincount(item_arr, weights=lp_v, minlength=n_items)[voted]
        ln = np.bincount(item_arr, weights=ln_v, minlength=n_items)[voted]
        previous = -np.inf
        ll = 0.0
        for _ in range(max_iter):
            iterations += 1
            la = y[voted] * math.log(model.ambiguous_yes) + (m[voted] - y[voted]) * math.log(
                1 - model.ambiguous_yes
            )
            r_pos, r_neg, r_amb, ll = _responsibilities(model, lp, ln, la)
            model = _update_shares(model, r_pos, r_neg, r_amb, y[voted], m[voted])
            if abs(ll - previous) < tol * max(1.0, abs(ll)):
                break
            previous = ll
        # A weak prior keeps the difficulty near 0 when the data cannot tell.
        score = ll - 0.5 * (difficulty / 0.4) ** 2
        if best is None or score > best[0]:
            best = (score, model, r_pos)
    assert best is not None
    _, model, _ = best
    # The synset's average worker (vote-weighted), for the table and for votes still needed.
    se_s, sp_s = model.worker_accuracy(se_v, sp_v)
    model = replace(
        model,
        sensitivity=float(np.clip(se_s.mean(), 0.5 + 1e-3, PROB_MAX)),
        specificity=float(np.clip(sp_s.mean(), 0.5 + 1e-3, PROB_MAX)),
    )
    lp_v, ln_v, la_v = model.vote_logs(ans, se_v, sp_v)
    posterior = model.posterior(
        np.bincount(item_arr, weights=lp_v, minlength=n_items),
        np.bincount(item_arr, weights=ln_v, minlength=n_items),
        np.bincount(item_arr, weights=la_v, minlength=n_items),
    )
    return model, FitInfo(
        items=int(voted.sum()), votes=int(item_arr.size), iterations=iterations,
        log_likelihood=float(best[0]), posterior=posterior,
    )  # fmt: skip
