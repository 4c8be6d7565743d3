"""The statistics behind consensus, on constructed vote tables with known answers, checked
against the reference implementations (krippendorff, statsmodels, crowd-kit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from annotate.stats.aggregation import dawid_skene, majority_vote, vote_weights
from annotate.stats.agreement import (
    agreement,
    fleiss_kappa,
    item_counts,
    krippendorff_alpha_nominal,
)
from annotate.stats.latent import SynsetModel, fit_counts, fit_weighted
from annotate.stats.policy import WorkerPool, choose_thresholds, simulate_policies, votes_needed

pytestmark = [pytest.mark.sqlite]


def crowd(
    rng: np.random.Generator,
    n_items: int,
    accuracies: np.ndarray,
    votes_per_item: int,
    prevalence: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    truth = rng.random(n_items) < prevalence
    items = np.repeat(np.arange(n_items), votes_per_item)
    workers = np.concatenate(
        [rng.choice(accuracies.size, votes_per_item, replace=False) for _ in range(n_items)]
    )
    correct = rng.random(items.size) < accuracies[workers]
    labels = np.where(correct, truth[items], ~truth[items]).astype(int)
    return truth, items, workers, labels


# --- agreement ------------------------------------------------------------------------------------


def test_agreement_matches_krippendorff_and_statsmodels_on_the_same_data() -> None:
    import krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    rng = np.random.default_rng(3)
    _, items, _, labels = crowd(rng, 80, rng.uniform(0.6, 0.95, 12), 5)
    counts = item_counts(items, labels)
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(counts), abs=1e-12)
    reliability = np.full((5, 80), np.nan)
    for i in range(80):
        reliability[:, i] = labels[items == i]
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(counts) == pytest.approx(expected, abs=1e-12)


def test_alpha_matches_krippendorff_with_missing_votes() -> None:
    import krippendorff

    rng = np.random.default_rng(5)
    n_items, n_raters = 60, 9
    matrix = np.full((n_raters, n_items), np.nan)
    items, labels = [], []
    for i in range(n_items):
        raters = rng.choice(n_raters, rng.integers(1, 7), replace=False)
        truth = rng.random() < 0.4
        for r in raters:
            label = int(truth if rng.random() < 0.8 else not truth)
            matrix[r, i] = label
            items.append(i)
            labels.append(label)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert agreement(items, labels)["alpha"] == pytest.approx(expected, abs=1e-12)


def test_agreement_edge_cases() -> None:
    assert agreement([], [])["alpha"] is None
    assert agreement([0, 1, 2], [1, 1, 0])["kappa"] is None  # nothing pairable
    perfect = agreement([0, 0, 1, 1], [1, 1, 0, 0])
    assert perfect["alpha"] == pytest.approx(1.0) and perfect["kappa"] == pytest.approx(1.0)
    assert agreement([0, 0, 1, 1], [1, 1, 1, 1])["alpha"] is None  # one category: undefined


# --- aggregation ----------------------------------------------------------------------------------


def test_majority_vote_shares() -> None:
    share = majority_vote([0, 0, 0, 1, 1], [1, 1, 0, 0, 0], n_items=3)
    assert share.tolist() == pytest.approx([2 / 3, 0.0, 0.5])


def test_dawid_skene_agrees_with_crowd_kit_and_gold_helps() -> None:
    from crowdkit.aggregation import DawidSkene

    rng = np.random.default_rng(7)
    accuracies = np.concatenate([rng.uniform(0.65, 0.95, 27), [0.5, 0.5, 0.5]])
    truth, items, workers, labels = crowd(rng, 600, accuracies, 3)
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    theirs = DawidSkene(n_iter=100).fit_predict(frame).sort_index().to_numpy()
    ours = dawid_skene(items, workers, labels, prior_strength=1e-6).labels
    assert (ours == theirs.astype(bool)).mean() >= 0.97
    gold = np.where(rng.random(600) < 0.1, truth.astype(float), -1.0)
    with_gold = dawid_skene(items, workers, labels, gold=gold)
    unknown = gold < 0
    accuracy_ours = (with_gold.labels[unknown] == truth[unknown]).mean()
    accuracy_theirs = (theirs[unknown].astype(bool) == truth[unknown]).mean()
    assert accuracy_ours >= accuracy_theirs
    assert with_gold.converged
    # The spammers are found: their estimated balanced accuracy is near a coin flip.
    balanced = (with_gold.sensitivity + with_gold.specificity) / 2
    assert balanced[-3:].mean() < 0.62 < 0.75 < balanced[:27].mean()


def test_vote_weights_silence_coin_flippers_and_adversaries() -> None:
    w_yes, w_no, _, _ = vote_weights(
        np.array([0.9, 0.5, 0.2]), np.array([0.9, 0.5, 0.2]), np.array([10, 10, 10])
    )
    assert w_yes[0] > 1.0 and w_no[0] > 1.0
    assert w_yes[1] == pytest.approx(0.0) and w_no[1] == pytest.approx(0.0)
    assert w_yes[2] == 0.0 and w_no[2] == 0.0


# --- the latent-class model -----------------------------------------------------------------------


def test_fit_counts_recovers_a_known_synset() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    truth = rng.random(n) < 0.3
    m = np.where(np.arange(n) < 300, 10, 3)
    p_yes = np.where(truth, 0.85, 1 - 0.8)
    yes = rng.binomial(m, p_yes)
    model, info = fit_counts(yes, m - yes)
    assert info.items == n
    assert model.prevalence == pytest.approx(0.3, abs=0.04)
    assert model.sensitivity == pytest.approx(0.85, abs=0.03)
    assert model.specificity == pytest.approx(0.8, abs=0.03)
    assert model.ambiguous < 0.05


def test_ambiguous_images_are_found_by_deep_votes() -> None:
    rng = np.random.default_rng(13)
    n = 400
    kind = rng.choice(3, n, p=[0.45, 0.45, 0.1])  # shows, not, ambiguous
    p_yes = np.array([0.9, 0.1, 0.5])[kind]
    yes = rng.binomial(10, p_yes)
    model, _ = fit_counts(yes, 10 - yes)
    assert model.ambiguous == pytest.approx(0.1, abs=0.05)
    # A 5-5 split is ambiguous: never near acceptance, whatever the vote count.
    assert model.confidence(5, 5) < 0.5
    assert model.confidence(10, 0) > 0.99


@pytest.mark.parametrize(
    ("yes", "no", "expected"),
    [(10, 0, "accept"), (0, 10, "reject"), (5, 5, "undecided"), (1, 0, "undecided")],
)
def test_confidence_table_decides_constructed_votes(yes: int, no: int, expected: str) -> None:
    model = SynsetModel(prevalence=0.5, ambiguous=0.02, sensitivity=0.8, specificity=0.8)
    conf = float(model.confidence(yes, no))
    outcome = "accept" if conf >= 0.995 else "reject" if conf <= 0.02 else "undecided"
    assert outcome == expected


def test_table_is_monotone_in_votes() -> None:
    model = SynsetModel(prevalence=0.4, ambiguous=0.03, sensitivity=0.8, specificity=0.75)
    table = model.table(10)
    for y in range(10):
        for n in range(10 - y):
            assert table[y + 1][n] >= table[y][n]
            assert table[y][n + 1] <= table[y][n]


def test_thresholds_meet_the_precision_target_in_an_independent_simulation() -> None:
    model = SynsetModel(prevalence=0.5, ambiguous=0.02, sensitivity=0.78, specificity=0.78)
    chosen = choose_thresholds(
        model, target_precision=0.995, target_reject_precision=0.98, cap=10, min_votes=2, seed=1
    )
    assert chosen.accept_precision >= 0.995
    [check] = simulate_policies(
        model,
        cap=10,
        min_votes=2,
        seed=99,
        n_items=40_000,
        accept_grid=(chosen.threshold_accept,),
        reject_grid=(chosen.threshold_reject,),
    )
    assert check.accept_precision >= 0.993
    assert check.reject_precision >= 0.975
    # A harder synset (less reliable votes) needs more votes per decided item.
    hard = SynsetModel(prevalence=0.5, ambiguous=0.02, sensitivity=0.68, specificity=0.68)
    harder = choose_thresholds(
        hard, target_precision=0.995, target_reject_precision=0.98, cap=10, min_votes=2
    )
    assert harder.votes_per_decided > chosen.votes_per_decided


def test_weighted_model_discounts_spammers() -> None:
    rng = np.random.default_rng(17)
    accuracies = np.concatenate([rng.uniform(0.8, 0.95, 18), [0.5, 0.5]])
    truth, items, workers, labels = crowd(rng, 500, accuracies, 5, prevalence=0.4)
    sens = accuracies[workers]
    model, info = fit_weighted(items, labels, sens, sens, n_items=500)
    assert abs(model.difficulty) <= 0.15
    assert model.prevalence == pytest.approx(0.4, abs=0.06)
    decided = info.posterior >= 0.5
    assert (decided == truth).mean() > 0.97
    # Two spammer yes votes move nothing; two expert yes votes move a lot.
    lp, ln, la = model.vote_logs([1, 1], [0.5, 0.5], [0.5, 0.5])
    assert float(model.posterior(lp.sum(), ln.sum(), la.sum())) == pytest.approx(
        float(model.posterior(0.0, 0.0, 0.0)), abs=1e-9
    )
    lp, ln, la = model.vote_logs([1, 1], [0.95, 0.95], [0.95, 0.95])
    assert float(model.posterior(lp.sum(), ln.sum(), la.sum())) > 0.95
    pool = WorkerPool(accuracies, accuracies, np.ones(accuracies.size))
    chosen = choose_thresholds(
        model, target_precision=0.995, target_reject_precision=0.98, cap=10, min_votes=2, pool=pool
    )
    assert chosen.accept_precision >= 0.995


def test_votes_needed_counts_down_to_a_possible_decision() -> None:
    model = SynsetModel(prevalence=0.5, ambiguous=0.01, sensitivity=0.85, specificity=0.85)

    def need(yes: int, no: int) -> int:
        lp = yes * np.log(0.85) + no * np.log(0.15)
        ln = yes * np.log(0.15) + no * np.log(0.85)
        la = (yes + no) * np.log(0.5)
        return int(
            votes_needed(
                model, [lp], [ln], [la], [yes + no],
                threshold_accept=0.99, threshold_reject=0.02, cap=10, min_votes=2,
            )[0]
        )  # fmt: skip

    fresh, one_yes, two_yes = need(0, 0), need(1, 0), need(2, 0)
    assert fresh >= 2 and one_yes == fresh - 1 and two_yes <= one_yes
    assert need(4, 4) >= 1
    assert need(6, 3) == 1  # bounded by the cap of 10
    assert need(6, 4) == 0  # at the cap: nothing more to lease


# --- the machine score as a calibrated prior ------------------------------------------------------


def scored_crowd(rng: np.random.Generator, separation: float, n: int = 400) -> dict:
    """Items with 1-3 votes of 0.8-0.95 workers and a machine score whose class-conditional
    logits are N(+-separation, 1) (separation 0: a score that says nothing)."""
    truth = rng.random(n) < 0.3
    z = rng.normal(np.where(truth, separation, -separation), 1.0)
    items, answers, accuracy = [], [], []
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            a = rng.uniform(0.8, 0.95)
            items.append(i)
            accuracy.append(a)
            answers.append(float(truth[i] if rng.random() < a else not truth[i]))
    return {
        "truth": truth,
        "scores": 1.0 / (1.0 + np.exp(-z)),
        "items": np.array(items),
        "answers": np.array(answers),
        "accuracy": np.array(accuracy),
    }


def fitted_prior(data: dict) -> tuple[SynsetModel, object]:
    from annotate.stats.score_prior import fit_score_prior

    n = data["truth"].size
    acc = data["accuracy"]
    model, _ = fit_weighted(data["items"], data["answers"], acc, acc, n_items=n)
    lp_v, ln_v, la_v = model.vote_logs(data["answers"], acc, acc)
    lp, ln, la = (np.bincount(data["items"], weights=v, minlength=n) for v in (lp_v, ln_v, la_v))
    return fit_score_prior(model, lp=lp, ln=ln, la=la, scores=data["scores"])


def test_an_informative_score_is_calibrated_from_the_votes_and_a_useless_one_is_not_used() -> None:
    rng = np.random.default_rng(3)
    good = scored_crowd(rng, separation=1.4)
    model, fit = fitted_prior(good)
    assert fit.used and model.score_slope > 0
    # The true calibration is logit P(shows | z) = logit(0.3) + 2 * 1.4 * z.
    assert model.score_slope == pytest.approx(2.8, abs=0.8)
    prior = model.score_prior(good["scores"])
    assert prior is not None
    # Calibrated: among items the prior puts near 0.9, about 90% show the synset.
    band = (prior > 0.8) & (prior < 0.97)
    assert band.sum() > 20
    assert good["truth"][band].mean() == pytest.approx(prior[band].mean(), abs=0.1)
    # The prior alone ranks items (AUC well above chance); scores of NaN get the prevalence.
    assert float(model.score_prior([np.nan])[0]) == pytest.approx(model.prevalence)
    assert model.score_prior(good["scores"], 0.0) is None  # weight 0: off

    useless = scored_crowd(np.random.default_rng(4), separation=0.0)
    model, fit = fitted_prior(useless)
    assert not fit.used and model.score_slope == 0.0
    assert model.score_prior(useless["scores"]) is None


def test_thresholds_chosen_with_the_prior_keep_precision_and_need_fewer_votes() -> None:
    rng = np.random.default_rng(5)
    data = scored_crowd(rng, separation=0.9)
    model, fit = fitted_prior(data)
    assert fit.used
    pool = WorkerPool(np.full(8, 0.88), np.full(8, 0.88), np.ones(8))
    kwargs = {"target_precision": 0.995, "target_reject_precision": 0.98, "cap": 6, "pool": pool}
    without = choose_thresholds(model, min_votes=2, **kwargs)
    with_prior = choose_thresholds(
        model, min_votes=2, scores=data["scores"], prior_weight=1.0, **kwargs
    )
    assert with_prior.accept_precision >= 0.995 and with_prior.reject_precision >= 0.98
    assert with_prior.votes_per_decided < without.votes_per_decided - 0.3


def test_futility_an_item_no_run_of_votes_can_decide_is_not_voted_on_further() -> None:
    from annotate.stats.policy import decision_reachable

    model = SynsetModel(prevalence=0.5, ambiguous=0.01, sensitivity=0.85, specificity=0.85)

    def logs(yes: int, no: int) -> tuple[list[float], list[float], list[float]]:
        lp = yes * np.log(0.85) + no * np.log(0.15)
        ln = yes * np.log(0.15) + no * np.log(0.85)
        return [lp], [ln], [(yes + no) * np.log(0.5)]

    def reachable(yes: int, no: int, cap: int) -> bool:
        return bool(
            decision_reachable(
                model, *logs(yes, no), [yes + no],
                threshold_accept=0.99, threshold_reject=0.02, cap=cap, min_votes=2,
            )[0]
        )  # fmt: skip

    assert reachable(0, 0, cap=6)
    assert reachable(2, 1, cap=6)
    # Split 3-3 at a cap of 8: two more agreeing votes cannot reach 0.99 (ambiguity stays
    # plausible), so it is hopeless now; with a cap of 12 it is not.
    assert not reachable(3, 3, cap=8)
    assert reachable(3, 3, cap=12)
    assert not reachable(3, 3, cap=6)  # at the cap


def test_gold_floor_uses_the_beta_posterior(settings) -> None:  # type: ignore[no-untyped-def]
    from scipy.stats import beta

    from annotate.services.annotators import gold_below_floor

    settings.ANNOTATE_GOLD_MIN_ANSWERS, settings.ANNOTATE_GOLD_FLOOR = 10, 0.7
    settings.ANNOTATE_GOLD_CONFIDENCE = 0.95
    assert gold_below_floor(3, 9) is None  # too few answers to judge
    for answers in (10, 20, 40):
        for correct in range(answers + 1):
            sure_below = beta.sf(0.7, correct + 1, answers - correct + 1) <= 0.05
            got = gold_below_floor(correct, answers)
            assert (got is not None) == sure_below, (correct, answers)
            if got is not None:
                assert got == pytest.approx(correct / answers)
    assert gold_below_floor(6, 10) is None  # an honest 70% worker's bad day
    assert gold_below_floor(3, 10) == pytest.approx(0.3)
