"""Duplicate detection: start the `dedup` job, and the curator's review actions on groups.

    dedup_start(*, created_by=None, inline=False, on_progress=None) -> Job
    duplicate_group_confirm(*, group, actor) -> DuplicateGroup
    duplicate_group_split(*, group, image_id, actor) -> DuplicateGroup | None
    duplicate_group_set_representative(*, group, image_id, actor) -> DuplicateGroup

The search itself runs in the worker (worker/dedup, FAISS); this module imports no FAISS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

from curation.models import DuplicateGroup, DuplicateMember, Job, NotDuplicatePair
from curation.services.audit import audit_record
from curation.services.dedup_groups import duplicate_exclusions_sync, duplicate_groups_rebuild
from curation.services.jobs import job_create, job_dispatch_on_commit, job_run_inline

JOB_KIND = "dedup"


class DuplicateReviewError(ValueError):
    """A review action that does not fit the group (e.g. the image is not a member)."""


def dedup_job_create(*, created_by: Any = None, parent: Job | None = None) -> Job:
    """A queued dedup job (not dispatched: a follower starts when its parent succeeds)."""
    return job_create(
        kind=JOB_KIND,
        params={
            "phash_radius": settings.DEDUP_PHASH_RADIUS,
            "cosine": settings.DEDUP_COSINE_THRESHOLD,
            "cosine_raw": settings.DEDUP_COSINE_THRESHOLD_RAW,
        },
        title="Find duplicates",
        created_by=created_by,
        parent=parent,
    )


def dedup_start(
    *,
    created_by: Any = None,
    inline: bool = False,
    on_progress: Callable[[Job], None] | None = None,
) -> Job:
    """Start a dedup job, or return the one already running (two would race on the index)."""
    with transaction.atomic():
        running = (
            Job.objects.select_for_update()
            .filter(kind=JOB_KIND, status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
            .exclude(started_at__isnull=True, parent__isnull=False)  # followers still waiting
            .order_by("pk")
            .first()
        )
        if running is not None and not inline:
            return running
        job = dedup_job_create(created_by=created_by)
        if not inline:
            job_dispatch_on_commit(job=job)
    if inline:
        return job_run_inline(job=job, on_progress=on_progress)
    return job


# --- review actions -------------------------------------------------------------------------------


def _member_ids(group: DuplicateGroup) -> list[int]:
    return list(group.members.order_by("image_id").values_list("image_id", flat=True))


def _locked(group: DuplicateGroup) -> DuplicateGroup:
    return DuplicateGroup.objects.select_for_update().get(pk=group.pk)


@transaction.atomic
def duplicate_group_confirm(*, group: DuplicateGroup, actor: Any) -> DuplicateGroup:
    group = _locked(group)
    group.status = DuplicateGroup.Status.CONFIRMED
    group.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="duplicates.confirm",
        target=group,
        summary=f"confirmed duplicate group {group.pk} ({group.size} images)",
        details={"members": _member_ids(group)},
    )
    return group


@transaction.atomic
def duplicate_group_split(
    *, group: DuplicateGroup, image_id: int, actor: Any
) -> DuplicateGroup | None:
    """ "Not a duplicate": the image never again shares a group with any current member; the
    groups are recomputed (the rest may stay together), its candidates return to annotation."""
    group = _locked(group)
    members = _member_ids(group)
    if image_id not in members:
        raise DuplicateReviewError(f"image {image_id} is not in duplicate group {group.pk}")
    pairs = [
        NotDuplicatePair(image_a_id=min(image_id, o), image_b_id=max(image_id, o), created_by=None)
        for o in members
        if o != image_id
    ]
    user = actor if getattr(actor, "pk", None) else None
    for pair in pairs:
        pair.created_by = user
    NotDuplicatePair.objects.bulk_create(pairs, ignore_conflicts=True)
    stats = duplicate_groups_rebuild()
    audit_record(
        actor=actor,
        action="duplicates.split",
        target_type="curation.duplicategroup",
        target_id=group.pk,
        summary=f"image {image_id} is not a duplicate of group {group.pk}",
        details={"image": image_id, "members": members, "rebuild": stats},
    )
    return DuplicateGroup.objects.filter(pk=group.pk).first()


@transaction.atomic
def duplicate_group_set_representative(
    *, group: DuplicateGroup, image_id: int, actor: Any
) -> DuplicateGroup:
    """Make `image_id` the representative; exclusions move to the former one."""
    group = _locked(group)
    members = _member_ids(group)
    if image_id not in members:
        raise DuplicateReviewError(f"image {image_id} is not in duplicate group {group.pk}")
    previous = group.representative_id
    if previous != image_id:
        group.representative_id = image_id
        group.save(update_fields=["representative", "updated_at"])
        DuplicateMember.objects.filter(image_id=image_id).update(similarity=1.0)
        duplicate_exclusions_sync(image_ids=members)
    audit_record(
        actor=actor,
        action="duplicates.representative",
        target=group,
        summary=f"image {image_id} represents duplicate group {group.pk} (was {previous})",
        details={"image": image_id, "previous": previous},
    )
    return group
