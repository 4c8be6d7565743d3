"""Inter-annotator agreement from a vote table: Krippendorff's alpha (nominal) and Fleiss' kappa.

Input is one row per vote: the item's index and the category's index. Both measures are computed
from per-item category counts, vectorised; items with fewer than two votes are not pairable and are
left out (as in both references). Checked against the `krippendorff` package and statsmodels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def item_counts(items: ArrayLike, labels: ArrayLike, n_categories: int = 2) -> np.ndarray:
    """Per-item category counts (items x categories) from per-vote item and label indexes."""
    item_arr = np.asarray(items, dtype=np.int64)
    label_arr = np.asarray(labels, dtype=np.int64)
    if item_arr.size == 0:
        return np.zeros((0, n_categories))
    _, dense = np.unique(item_arr, return_inverse=True)
    counts = np.zeros((dense.max() + 1, n_categories))
    np.add.at(counts, (dense, label_arr), 1)
    return counts


def krippendorff_alpha_nominal(counts: np.ndarray) -> float | None:
    """Alpha from the coincidence matrix: 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k.

    None when undefined (fewer than two pairable values, or one category only).
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    m = m[m >= 2]
    if pairable.shape[0] == 0:
        return None
    # o_ck = sum_u n_uc * (n_uk - [c == k]) / (m_u - 1)
    weighted = pairable / (m - 1)[:, None]
    coincidence = weighted.T @ pairable - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    disagreement_observed = coincidence.sum() - np.trace(coincidence)
    expected = n_c.sum() ** 2 - (n_c**2).sum()
    if n <= 1 or expected <= 0:
        return None
    return float(1.0 - (n - 1) * disagreement_observed / expected)


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa; with a varying number of raters per item each item's agreement uses its own
    count (reduces to Fleiss 1971, and statsmodels, when every item has the same count)."""
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    keep = n_i >= 2
    counts, n_i = counts[keep], n_i[keep]
    if counts.shape[0] == 0:
        return None
    p_item = ((counts * (counts - 1)).sum(axis=1)) / (n_i * (n_i - 1))
    p_bar = p_item.mean()
    p_cat = counts.sum(axis=0) / n_i.sum()
    p_expected = (p_cat**2).sum()
    if p_expected >= 1.0:
        return None
    return float((p_bar - p_expected) / (1.0 - p_expected))


def agreement(items: ArrayLike, labels: ArrayLike) -> dict[str, float | None]:
    """Both measures for binary votes (labels 0/1), plus how many items were pairable."""
    counts = item_counts(items, labels, 2)
    pairable = int((counts.sum(axis=1) >= 2).sum()) if counts.size else 0
    return {
        "alpha": krippendorff_alpha_nominal(counts),
        "kappa": fleiss_kappa(counts),
        "items": float(pairable),
    }
