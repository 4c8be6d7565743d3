"""ImageNet-style query plans: what to type into a search engine to gather a synset's candidates.

Deng et al. (2009) queried each synonym of a synset, and each synonym with a word of a parent
synset appended when the synset's gloss uses that word ("whippet dog"), since the parent word
disambiguates ("husky" alone is also a voice). Here: every lemma; then every lemma with each
ancestor lemma (up to three levels up) that the gloss mentions ("husky dog": an Eskimo dog is a
"sled dog"); then every lemma with the first lemma of each direct parent ("husky working dog").
Lemmas are English (WordNet 3.0).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from curation.models import Synset, SynsetClosure
from curation.selectors.synsets import synset_parents

ANCESTOR_LEVELS = 3


@dataclass(frozen=True)
class PlannedQuery:
    query: str
    kind: str  # "lemma" or "lemma + parent"
    parent_wnid: str = ""
    parent_name: str = ""


def _words(lemma: str) -> str:
    return lemma.replace("_", " ").strip()


def query_plan(synset: Synset) -> list[PlannedQuery]:
    lemmas = [_words(lemma) for lemma in synset.lemmas] or [synset.lemma]
    plan: list[PlannedQuery] = []
    seen: set[str] = set()

    def add(query: str, kind: str, parent: Synset | None = None) -> None:
        key = query.lower()
        if key in seen:
            return
        seen.add(key)
        plan.append(
            PlannedQuery(query, kind, parent.wnid if parent else "", parent.name if parent else "")
        )

    for lemma in lemmas:
        add(lemma, "lemma")
    gloss = synset.gloss.lower()

    def extend(word: str, parent: Synset) -> None:
        for lemma in lemmas:
            low, w = lemma.lower(), word.lower()
            if low == w or low.endswith(" " + w):
                continue  # "Eskimo dog" + "dog" adds nothing
            add(f"{lemma} {word}", "lemma + parent", parent)

    closure = (
        SynsetClosure.objects.filter(
            descendant=synset, distance__gte=1, distance__lte=ANCESTOR_LEVELS
        )
        .select_related("ancestor")
        .order_by("distance", "ancestor__name")
    )
    for row in closure:
        for word in [_words(lemma) for lemma in row.ancestor.lemmas]:
            if re.search(rf"\b{re.escape(word.lower())}\b", gloss):
                extend(word, row.ancestor)
    for parent in synset_parents(synset):
        parent_lemmas = [_words(lemma) for lemma in parent.lemmas] or [parent.lemma]
        extend(parent_lemmas[0], parent)
    return plan


def query_plans(synsets: Iterator[Synset]) -> Iterator[tuple[Synset, PlannedQuery]]:
    for synset in synsets:
        for query in query_plan(synset):
            yield synset, query
