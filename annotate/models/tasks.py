"""Work: the per-candidate queue (votes still needed, leases held) and leased tasks."""

from __future__ import annotations

from django.db import models


class QueueItem(models.Model):
    """Annotation state of one non-gold candidate: how many more votes it needs and how many are
    leased out right now. Leasing locks this row (SKIP LOCKED) and checks `leased < need` on it, so
    concurrent requests can never hand out more leases than votes still needed."""

    candidate = models.OneToOneField(
        "curation.Candidate", on_delete=models.CASCADE, primary_key=True, related_name="queue"
    )
    synset = models.ForeignKey("curation.Synset", on_delete=models.CASCADE, related_name="+")
    open = models.BooleanField(default=True, help_text="still wants votes (undecided)")
    calibration = models.BooleanField(
        default=False, help_text="in the synset's calibration subset (gets the deep vote count)"
    )
    votes = models.PositiveSmallIntegerField(default=0, help_text="counted votes so far")
    need = models.PositiveSmallIntegerField(default=1, help_text="more votes wanted now")
    leased = models.PositiveSmallIntegerField(default=0, help_text="leases out right now")
    priority = models.FloatField(
        default=0.0, help_text="order among equal vote counts (from the machine score)"
    )
    dirty = models.BooleanField(
        default=False,
        help_text="has counted votes consensus has not re-decided yet (ANNOTATE_CONSENSUS_ASYNC)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Both queue queries walk these in order: calibration first, fewest votes, priority.
        indexes = [
            models.Index(
                fields=["synset", "-calibration", "votes", "priority", "candidate"],
                condition=models.Q(open=True),
                name="queue_open_synset",
            ),
            models.Index(
                fields=["-calibration", "votes", "priority"],
                condition=models.Q(open=True),
                name="queue_open_priority",
            ),
            # The few calibration items of a synset (checked on submits until it is fitted).
            models.Index(
                fields=["synset", "votes"],
                condition=models.Q(calibration=True),
                name="queue_calibration",
            ),
            # What the consensus drain still has to re-decide (a handful of rows at any time).
            models.Index(fields=["candidate"], condition=models.Q(dirty=True), name="queue_dirty"),
        ]

    def __str__(self) -> str:
        return f"queue candidate {self.candidate_id}: {self.votes} votes, need {self.need}"


class Assignment(models.Model):
    """A task: one synset's candidates (plus hidden gold) leased to one annotator."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        SUBMITTED = "submitted", "submitted"
        EXPIRED = "expired", "expired"

    token = models.CharField(max_length=32, unique=True, help_text="opaque public id")
    annotator = models.ForeignKey(
        "annotate.Annotator", on_delete=models.CASCADE, related_name="assignments"
    )
    synset = models.ForeignKey("curation.Synset", on_delete=models.CASCADE, related_name="+")
    study = models.ForeignKey(
        "annotate.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    size = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    client_token = models.CharField(
        max_length=64, blank=True, help_text="the submit's idempotency key"
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="the submit's reply, replayed")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["annotator", "status"], name="assignment_annotator_status"),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status="open"),
                name="assignment_open_expiry",
            ),
            models.Index(fields=["annotator", "submitted_at"], name="assignment_submitted"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="submitted") | ~models.Q(client_token=""),
                name="assignment_submitted_has_token",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.token} ({self.status})"


class AssignmentItem(models.Model):
    """One grid cell of a task. Annotators only ever see `token`; gold looks like any other item."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="items")
    candidate = models.ForeignKey("curation.Candidate", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=32, unique=True)
    position = models.PositiveSmallIntegerField()
    is_gold = models.BooleanField(default=False)
    leased = models.BooleanField(
        default=False, help_text="holds one of the candidate's leases (non-gold, not yet voted)"
    )

    class Meta:
        ordering = ["assignment", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "candidate"], name="assignment_item_candidate_unique"
            ),
            models.UniqueConstraint(
                fields=["assignment", "position"], name="assignment_item_position_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(is_gold=True, leased=True), name="assignment_item_gold_no_lease"
            ),
        ]
        indexes = [
            models.Index(fields=["candidate"], name="assignment_item_candidate"),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of {self.assignment_id}"
