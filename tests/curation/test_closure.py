"""The closure computation on small DAGs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from curation.wordnet import compute_closure

pytestmark = pytest.mark.sqlite


def pairs(closure) -> set[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return set(
        zip(
            closure.ancestor.tolist(),
            closure.descendant.tolist(),
            closure.distance.tolist(),
            strict=True,
        )
    )


def test_diamond_keeps_shortest_distance_and_self_pairs() -> None:
    # 0 -> 1 -> 3, 0 -> 2 -> 3, 0 -> 3 (a shortcut), 3 -> 4
    closure = compute_closure(5, [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (3, 4)])
    got = pairs(closure)
    assert {(i, i, 0) for i in range(5)} <= got
    assert (0, 3, 1) in got and (0, 3, 2) not in got
    assert (0, 4, 2) in got and (1, 4, 2) in got and (2, 4, 2) in got
    assert len(got) == 5 + 9
    assert closure.descendant_count.tolist() == [4, 2, 2, 1, 0]
    assert closure.child_count.tolist() == [3, 1, 1, 1, 0]
    assert closure.depth.tolist() == [0, 1, 1, 1, 2]


def test_cycle_is_an_error() -> None:
    with pytest.raises(ValueError, match="cycle"):
        compute_closure(3, [(0, 1), (1, 2), (2, 1)])


def test_forest_depth_counts_from_each_root() -> None:
    closure = compute_closure(4, [(0, 1), (2, 3)])
    assert closure.depth.tolist() == [0, 1, 0, 1]
    assert isinstance(closure.ancestor, np.ndarray)
