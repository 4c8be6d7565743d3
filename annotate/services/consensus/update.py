"""Re-deciding candidates from their counted votes: the one place that moves open candidates to
accepted / rejected / escalated (and back, when votes stop counting), with an audit Decision."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotate.models import (
    Annotator,
    Decision,
    GoldItem,
    QueueItem,
    SynsetConsensus,
    Vote,
)
from annotate.services.annotators import worker_accuracy
from annotate.services.bulk import bulk_set
from annotate.services.consensus.evaluate import (
    OPEN,
    evaluate,
    policy_for,
)
from annotate.services.queue import score_priority
from curation.models import Candidate, Image

# Decisions consensus never overrides.
MANUAL_METHODS = (Decision.Method.GOLD, Decision.Method.CURATOR)
CLOSED_STATES = (Candidate.State.ACCEPTED, Candidate.State.REJECTED, Candidate.State.ESCALATED)
# Candidates re-decided per transaction. Each batch holds its queue and candidate rows FOR UPDATE
# while it evaluates, and annotators' submits on those rows wait for it: a refit of a whole synset
# in small batches keeps that wait short (2,000 per batch put seconds on submit p95 under load).
BATCH = 250


def consensus_rows_for(synset_ids: Iterable[int]) -> dict[int, SynsetConsensus]:
    """The SynsetConsensus rows of these synsets, created with defaults where missing."""
    ids = sorted(set(synset_ids))
    rows = {c.synset_id: c for c in SynsetConsensus.objects.filter(synset_id__in=ids)}
    missing = [SynsetConsensus(synset_id=i) for i in ids if i not in rows]
    if missing:
        SynsetConsensus.objects.bulk_create(missing, ignore_conflicts=True)
        rows = {c.synset_id: c for c in SynsetConsensus.objects.filter(synset_id__in=ids)}
    return rows


def counted_votes(candidate_ids: list[int]) -> list[tuple[Any, ...]]:
    """(vote id, candidate id, annotator id, answer, sensitivity, specificity) of every vote that
    counts (its annotator is not blocked) on these candidates."""
    rows = (
        Vote.objects.filter(candidate_id__in=candidate_ids)
        .exclude(annotator__status=Annotator.Status.BLOCKED)
        .values_list(
            "id",
            "candidate_id",
            "annotator_id",
            "answer",
            "annotator__sensitivity",
            "annotator__specificity",
            "annotator__gold_answers",
            "annotator__gold_correct",
        )
        .order_by("id")
    )
    out = []
    for vote_id, cand, ann, answer, se, sp, gold_answers, gold_correct in rows:
        sens, spec = worker_accuracy(
            {
                "sensitivity": se,
                "specificity": sp,
                "gold_answers": gold_answers,
                "gold_correct": gold_correct,
            }
        )
        out.append((vote_id, cand, ann, answer, sens, spec))
    return out


def consensus_update(
    *, candidate_ids: Iterable[int], batch: int = BATCH, skip_locked: bool = False
) -> dict[str, int]:
    """Re-decide these candidates from their counted votes, `batch` per transaction; returns
    transition counts. `skip_locked` (the drain): candidates whose queue row another transaction
    holds are left alone rather than waited for (they stay marked for the next drain)."""
    ids = sorted(set(candidate_ids))
    totals: Counter[str] = Counter()
    for start in range(0, len(ids), batch):
        totals.update(_update_batch(ids[start : start + batch], skip_locked=skip_locked))
    return dict(totals)


@transaction.atomic
def _update_batch(ids: list[int], *, skip_locked: bool = False) -> Counter[str]:
    counts: Counter[str] = Counter()
    if not ids:
        return counts
    # Lock the queue rows first, in id order: concurrent updates of the same candidates serialize,
    # and what is read below is what the last committed submit left. Lock order everywhere:
    # assignment, queue rows, candidate rows (each in id order).
    queue = {
        q.candidate_id: q
        for q in QueueItem.objects.select_for_update(skip_locked=skip_locked)
        .filter(candidate_id__in=ids)
        .order_by("pk")
    }
    if skip_locked:
        # Waiting on a submit's row while holding the rows before it would make every other
        # submit on those wait too: only the rows this transaction got are re-decided.
        ids = sorted(queue)
        if not ids:
            return counts
    # Re-decided now: off the drain's list. A submit that marks one again waits for this lock,
    # so its mark lands after this transaction and is drained next time.
    dirty = [pk for pk, q in queue.items() if q.dirty]
    if dirty:
        QueueItem.objects.filter(pk__in=dirty).update(dirty=False)
    # Then the candidate rows, also in id order (gold candidates have no queue row to guard them),
    # so every writer takes queue rows before candidate rows and never in crossing orders. NO KEY
    # UPDATE: a plain FOR UPDATE also blocks the foreign-key checks of rows that reference a
    # candidate, so every submit voting on (and next-task leasing) one of these candidates would
    # wait for this whole re-decision.
    candidates = list(
        Candidate.objects.filter(pk__in=ids)
        .select_for_update(of=("self",), no_key=True)
        .only(
            "pk",
            "synset_id",
            "state",
            "decided_by",
            "machine_score",
            "votes_yes",
            "votes_no",
            "confidence",
            "decided_at",
            "image_id",
        )
        .annotate(
            is_gold=Exists(GoldItem.objects.filter(candidate_id=OuterRef("pk"))),
            image_ok=Q(image__status=Image.Status.OK),
        )
        .order_by("pk")
    )
    if not candidates:
        return counts
    gold = {c.pk for c in candidates if c.is_gold}
    bad_images = {c.image_id for c in candidates if not c.image_ok}
    votes = counted_votes(ids)
    by_candidate: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in votes:
        by_candidate[row[1]].append(row)
    policies = {
        sid: policy_for(c) for sid, c in consensus_rows_for(c.synset_id for c in candidates).items()
    }
    now = timezone.now()
    changed_candidates: list[Candidate] = []
    changed_queue: list[QueueItem] = []
    decisions: list[Decision] = []

    by_synset: dict[int, list[Candidate]] = defaultdict(list)
    for cand in candidates:
        by_synset[cand.synset_id].append(cand)
    for synset_id, group in by_synset.items():
        policy = policies[synset_id]
        index = {c.pk: i for i, c in enumerate(group)}
        rows = [r for c in group for r in by_candidate.get(c.pk, [])]
        vote_item = np.array([index[r[1]] for r in rows], dtype=np.int64)
        ev = evaluate(
            policy,
            n_items=len(group),
            vote_item=vote_item,
            vote_answer=np.array([float(r[3]) for r in rows]),
            vote_sensitivity=np.array([r[4] for r in rows], dtype=float),
            vote_specificity=np.array([r[5] for r in rows], dtype=float),
            calibration=np.array(
                [bool(queue.get(c.pk) and queue[c.pk].calibration) for c in group]
            ),
            machine_score=np.array(
                [np.nan if c.machine_score is None else c.machine_score for c in group]
            ),
        )
        llr_by_candidate: dict[int, list[list[Any]]] = defaultdict(list)
        for row, llr in zip(rows, ev.vote_llr, strict=True):
            llr_by_candidate[row[1]].append([row[0], row[2], int(row[3]), round(float(llr), 3)])

        for i, cand in enumerate(group):
            raw, yes = int(ev.raw[i]), int(ev.yes[i])
            conf = None if np.isnan(ev.confidence[i]) else float(np.clip(ev.confidence[i], 0, 1))
            manual = cand.pk in gold or cand.decided_by in MANUAL_METHODS
            frozen = cand.state == Candidate.State.EXCLUDED or cand.image_id in bad_images
            new_state = cand.state
            if not manual and not frozen:
                outcome = ev.outcome[i]
                if outcome == OPEN:
                    new_state = Candidate.State.IN_REVIEW if raw else Candidate.State.PENDING
                else:
                    new_state = outcome
            closes = new_state in CLOSED_STATES
            updates: dict[str, Any] = {"votes_yes": yes, "votes_no": raw - yes}
            if not manual:
                updates["confidence"] = conf
            if new_state != cand.state:
                updates["state"] = new_state
                if closes:
                    updates["decided_by"] = policy.method
                    updates["decided_at"] = now
                else:
                    updates["decided_by"] = ""
                    updates["decided_at"] = None
                if closes or cand.state in CLOSED_STATES:
                    counts[new_state] += 1
                    if not closes:
                        counts["reopened"] += 1
                    decisions.append(
                        Decision(
                            candidate_id=cand.pk,
                            state=new_state,
                            previous_state=cand.state,
                            method=policy.method,
                            confidence=conf,
                            votes_yes=yes,
                            votes_no=raw - yes,
                            threshold_accept=None if policy.majority else policy.threshold_accept,
                            threshold_reject=None if policy.majority else policy.threshold_reject,
                            votes=llr_by_candidate.get(cand.pk, []),
                            note=""
                            if closes
                            else "reopened: its counted votes no longer decide it",
                        )
                    )
            elif closes and not manual and cand.decided_by != policy.method:
                # Same outcome under a different policy (the curator changed it): say so.
                updates["decided_by"] = policy.method
                updates["decided_at"] = now
                decisions.append(
                    Decision(
                        candidate_id=cand.pk,
                        state=new_state,
                        previous_state=cand.state,
                        method=policy.method,
                        confidence=conf,
                        votes_yes=yes,
                        votes_no=raw - yes,
                        threshold_accept=None if policy.majority else policy.threshold_accept,
                        threshold_reject=None if policy.majority else policy.threshold_reject,
                        votes=llr_by_candidate.get(cand.pk, []),
                        note=f"same outcome under the {policy.method} policy",
                    )
                )
            if any(getattr(cand, k) != v for k, v in updates.items()):
                for key, value in updates.items():
                    setattr(cand, key, value)
                cand.updated_at = now
                changed_candidates.append(cand)
            item = queue.get(cand.pk)
            if item is not None:
                is_open = not manual and not frozen and new_state in Candidate.OPEN
                need = int(ev.need[i]) if is_open else 0
                wanted = (is_open, need, min(raw, 32767), score_priority(cand.machine_score))
                if (item.open, item.need, item.votes, item.priority) != wanted:
                    item.open, item.need, item.votes, item.priority = wanted
                    changed_queue.append(item)
    bulk_set(
        Candidate,
        changed_candidates,
        ["state", "votes_yes", "votes_no", "confidence", "decided_by", "decided_at", "updated_at"],
    )
    bulk_set(QueueItem, changed_queue, ["open", "need", "votes", "priority"])
    if decisions:
        Decision.objects.bulk_create(decisions, batch_size=500)
    counts["candidates"] += len(candidates)
    counts["changed"] += len(changed_candidates)
    return counts
