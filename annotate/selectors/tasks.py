"""What an annotator is shown: a task's payload (synset card + opaque items) and their progress.

Nothing here may reveal gold: items carry only a per-assignment opaque token and the image's
content-addressed URLs; example images exclude gold candidates; the same code builds every item.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from annotate.models import Assignment, Decision
from annotate.services import task_sql
from curation.models import Candidate, Synset
from curation.selectors.synsets import hypernym_paths
from curation.storage import original_url, thumb_url

CARD_TTL_S = 60.0
EXAMPLES = 6
_cards: dict[int, tuple[float, dict[str, Any]]] = {}


def synset_card(synset_id: int) -> dict[str, Any]:
    """Lemmas, gloss, hypernym path and a few accepted examples (cached in-process for a minute:
    every annotator on a synset asks for the same card)."""
    cached = _cards.get(synset_id)
    now = time.monotonic()
    if cached and now - cached[0] < CARD_TTL_S:
        return cached[1]
    synset = Synset.objects.get(pk=synset_id)
    paths = hypernym_paths(synset)
    path = paths[0] if paths else [synset]
    examples = list(
        Candidate.objects.filter(synset_id=synset_id, state=Candidate.State.ACCEPTED)
        .exclude(decided_by=Decision.Method.GOLD)
        .exclude(gold__isnull=False)
        .order_by("-confidence", "pk")
        .values_list("image__sha256", flat=True)[:EXAMPLES]
    )
    card = {
        "wnid": synset.wnid,
        "name": synset.name,
        "lemma": synset.lemma,
        "lemmas": [lemma.replace("_", " ") for lemma in synset.lemmas],
        "gloss": synset.gloss,
        "path": [s.lemma for s in path],
        "examples": [thumb_url(sha) for sha in examples],
    }
    if len(_cards) > 5000:
        _cards.clear()
    _cards[synset_id] = (now, card)
    return card


def task_payload(task: Assignment) -> dict[str, Any]:
    items = task_sql.payload_items(task.pk)
    return {
        "id": task.token,
        "status": task.status,
        "expires_at": task.expires_at.isoformat(),
        "heartbeat_seconds": max(10, min(60, settings.ANNOTATE_LEASE_SECONDS // 3)),
        "synset": synset_card(task.synset_id),
        "items": [
            {
                "item": token,
                "thumb": thumb_url(sha),
                "original": original_url(sha),
                "width": width,
                "height": height,
            }
            for token, sha, width, height in items
        ],
    }
