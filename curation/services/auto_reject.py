"""Auto-reject: a curator's per-synset threshold on the machine score (off by default).

Rules: only open candidates (pending / in review) with a machine score below the synset's
`auto_reject_below` are rejected, with decided_by="machine" and a Decision row. Never gold items
(curator truth), and never candidates that already have votes: once people have looked at a
candidate, consensus decides it. A rejected candidate leaves the annotation queue (its QueueItem
closes under the same lock order consensus uses: queue rows, then candidate rows, by id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation.models import Candidate, Synset
from curation.services.audit import audit_record

MACHINE = "machine"


def _eligible(qs: Any) -> Any:
    return qs.filter(
        state__in=Candidate.OPEN,
        machine_score__isnull=False,
        votes_yes=0,
        votes_no=0,
        gold__isnull=True,
        synset__auto_reject_below__isnull=False,
        machine_score__lt=F("synset__auto_reject_below"),
    )


def candidates_auto_reject(
    *, candidate_ids: Iterable[int] | None = None, synset: Synset | None = None
) -> int:
    """Reject eligible candidates (those given, or all of a synset's); returns how many."""
    from annotate.models import Decision, QueueItem

    qs = Candidate.objects.all()
    if candidate_ids is not None:
        qs = qs.filter(pk__in=list(candidate_ids))
    if synset is not None:
        qs = qs.filter(synset=synset)
    ids = list(_eligible(qs).order_by("pk").values_list("pk", flat=True))
    rejected = 0
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        with transaction.atomic():
            list(
                QueueItem.objects.select_for_update()
                .filter(candidate_id__in=part)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            locked = list(
                _eligible(Candidate.objects.filter(pk__in=part))
                .select_for_update(of=("self",))
                .select_related("synset")
                .order_by("pk")
            )
            if not locked:
                continue
            now = timezone.now()
            Decision.objects.bulk_create(
                [
                    Decision(
                        candidate=c,
                        state=Candidate.State.REJECTED,
                        previous_state=c.state,
                        method=MACHINE,
                        confidence=c.machine_score,
                        note=f"machine score {c.machine_score:.3f} < auto-reject threshold "
                        f"{c.synset.auto_reject_below:.3f}",
                    )
                    for c in locked
                ]
            )
            done = [c.pk for c in locked]
            Candidate.objects.filter(pk__in=done).update(
                state=Candidate.State.REJECTED,
                decided_by=MACHINE,
                decided_at=now,
                updated_at=now,
            )
            QueueItem.objects.filter(candidate_id__in=done).update(open=False, need=0)
            rejected += len(done)
    return rejected


@transaction.atomic
def synset_auto_reject_set(*, synset: Synset, threshold: float | None, actor: Any) -> int:
    """Set (or clear, with None) a synset's auto-reject threshold; audited. Applies at once to
    the synset's already-scored candidates; returns how many it rejected."""
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ValueError("auto-reject threshold must be between 0 and 1 (or empty for off)")
    previous = synset.auto_reject_below
    synset.auto_reject_below = None if threshold is None else float(threshold)
    Synset.objects.filter(pk=synset.pk).update(auto_reject_below=synset.auto_reject_below)
    audit_record(
        actor=actor,
        action="synset.auto_reject",
        target=synset,
        summary=f"{synset.wnid} auto-reject below {synset.auto_reject_below} (was {previous})",
        details={"previous": previous, "threshold": synset.auto_reject_below},
    )
    if synset.auto_reject_below is None:
        return 0
    return candidates_auto_reject(synset=synset)
