"""Activating synsets: by wnid or name, whole subtrees, or presets; all-or-nothing."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone

from curation.models import Synset, SynsetClosure
from curation.presets import preset_wnids
from curation.services.audit import audit_record

WNID_RE = re.compile(r"^n\d{8}$")
NAME_RE = re.compile(r"^.+\.n\.\d{2}$")


class SynsetLookupError(Exception):
    """One or more identifiers matched no synset; `unknown` maps each to close matches."""

    def __init__(self, unknown: dict[str, list[str]]) -> None:
        self.unknown = unknown
        lines = []
        for ident, matches in unknown.items():
            hint = f" — did you mean: {', '.join(matches)}?" if matches else ""
            lines.append(f"unknown synset {ident!r}{hint}")
        super().__init__("; ".join(lines))


@dataclass
class ActivationSummary:
    matched: int = 0
    changed: int = 0
    already: int = 0
    target: int | None = None
    target_changed: int = 0
    roots: list[str] = field(default_factory=list)


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (typos and transpositions), cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=2)
def _lemma_index(version: int) -> dict[str, list[str]]:
    """lemma -> synset names (first senses first); `version` is the synset count, a cache key."""
    index: dict[str, list[str]] = {}
    for name in (
        Synset.objects.order_by("name").values_list("name", flat=True).iterator(chunk_size=20_000)
    ):
        index.setdefault(name.rsplit(".", 2)[0].lower(), []).append(name)
    return index


def close_matches(identifier: str, limit: int = 5) -> list[str]:
    """Names (or wnids) near an unknown identifier, for error messages."""
    ident = identifier.strip().lower()
    if ident.startswith("n") and ident[1:].isdigit():
        digits = ident[1:]
        qs = Synset.objects.filter(wnid__startswith="n" + digits[:5]).values_list("wnid", "name")
        return [f"{w} ({n})" for w, n in qs[:limit]]
    word = ident.split(".")[0].replace(" ", "_")
    index = _lemma_index(Synset.objects.count())
    budget = max(1, min(3, len(word) // 4))
    # Closest first; among equals, same letters (a transposition) and same length first.
    scored = sorted(
        (dist, sorted(lemma) != sorted(word), abs(len(lemma) - len(word)), lemma)
        for lemma in index
        if (dist := _edit_distance(word, lemma, budget)) <= budget
    )
    lemmas = [row[-1] for row in scored[:limit]]
    if len(lemmas) < limit:
        extra = difflib.get_close_matches(word, list(index), n=limit, cutoff=0.75)
        lemmas += [lemma for lemma in extra if lemma not in lemmas]
    names = [name for lemma in lemmas for name in index[lemma][:2]]
    return names[:limit]


def synsets_resolve(identifiers: Sequence[str]) -> list[Synset]:
    """Synsets for wnids or names (dog.n.01); every unknown one is reported at once."""
    wanted = [i.strip() for i in identifiers if i.strip()]
    wnids = [i for i in wanted if WNID_RE.match(i)]
    names = [i for i in wanted if not WNID_RE.match(i)]
    found = {s.wnid: s for s in Synset.objects.filter(wnid__in=wnids)}
    found.update({s.name: s for s in Synset.objects.filter(name__in=names)})
    unknown = {ident: close_matches(ident) for ident in wanted if ident not in found}
    if unknown:
        raise SynsetLookupError(unknown)
    return [found[ident] for ident in wanted]


def _ids_for(roots: Sequence[Synset], subtree: bool) -> list[int]:
    root_ids = [s.pk for s in roots]
    if not subtree:
        return root_ids
    return list(
        SynsetClosure.objects.filter(ancestor_id__in=root_ids)
        .values_list("descendant_id", flat=True)
        .distinct()
    )


@transaction.atomic
def synsets_activate(
    *,
    identifiers: Sequence[str] = (),
    subtree: bool = False,
    preset: str | None = None,
    target: int | None = None,
    active: bool = True,
    actor: Any = None,
) -> ActivationSummary:
    """Activate (or deactivate) synsets; nothing is applied if any identifier is unknown."""
    if target is not None and target < 0:
        raise ValueError("target must be a non-negative number of images")
    if not identifiers and not preset:
        raise ValueError("name at least one synset (wnid or name) or a preset")
    roots = synsets_resolve(list(identifiers)) if identifiers else []
    ids = set(_ids_for(roots, subtree))
    if preset:
        preset_list = preset_wnids(preset)
        preset_ids = dict(Synset.objects.filter(wnid__in=preset_list).values_list("wnid", "pk"))
        missing = [w for w in preset_list if w not in preset_ids]
        if missing:
            raise SynsetLookupError(
                {w: ["run import_wordnet first (WordNet 3.0)"] for w in missing[:5]}
            )
        ids.update(preset_ids.values())
    id_list = sorted(ids)
    summary = ActivationSummary(matched=len(id_list), target=target, roots=[s.wnid for s in roots])
    now = timezone.now()
    for start in range(0, len(id_list), 5000):
        batch = Synset.objects.filter(pk__in=id_list[start : start + 5000])
        summary.changed += batch.exclude(active=active).update(
            active=active, activated_at=now if active else None
        )
        if target is not None:
            summary.target_changed += batch.exclude(target_images=target).update(
                target_images=target
            )
    summary.already = summary.matched - summary.changed
    audit_record(
        actor=actor,
        action="synsets.activate" if active else "synsets.deactivate",
        target_type="synsets",
        target_id=preset or ",".join(identifiers)[:64],
        summary=f"{summary.changed} of {summary.matched} synsets "
        f"{'activated' if active else 'deactivated'}"
        + (f", target {target}" if target is not None else "")
        + (" (subtree)" if subtree else ""),
        details={"identifiers": list(identifiers)[:100], "preset": preset, "subtree": subtree,
                 "target": target, "matched": summary.matched, "changed": summary.changed},
    )  # fmt: skip
    return summary
