"""ImageNet-style query plans: what to type into a search engine to gather a synset's candidates.

Deng et al. (2009) queried each synonym of a synset, and each synonym with a word of a parent
synset appended ("whippet dog"), since the parent word disambiguates ("husky" alone is also a
voice). Here: every lemma, then every lemma with the first lemma of each parent appended, and
with any other parent lemma that the synset's gloss mentions. Lemmas are English (WordNet 3.0).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from curation.models import Synset
from curation.selectors.synsets import synset_parents


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
    for parent in synset_parents(synset):
        parent_lemmas = [_words(lemma) for lemma in parent.lemmas] or [parent.lemma]
        words = [parent_lemmas[0]] + [
            w for w in parent_lemmas[1:] if re.search(rf"\b{re.escape(w.lower())}\b", gloss)
        ]
        for word in words:
            for lemma in lemmas:
                if lemma.lower() == word.lower() or lemma.lower().endswith(" " + word.lower()):
                    continue
                add(f"{lemma} {word}", "lemma + parent", parent)
    return plan


def query_plans(synsets: Iterator[Synset]) -> Iterator[tuple[Synset, PlannedQuery]]:
    for synset in synsets:
        for query in query_plan(synset):
            yield synset, query
