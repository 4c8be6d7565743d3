"""Annotators (a local user or an external crowd worker id) and external studies (Prolific, AMT)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


class Annotator(models.Model):
    """Someone whose votes count: a signed-in user, a crowd worker from a signed link, or a worker
    id from imported votes. Quality figures are written by consensus (Dawid-Skene fit, gold)."""

    class Platform(models.TextChoices):
        LOCAL = "local", "local account"
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon Mechanical Turk"
        EXTERNAL = "external", "other crowd platform"
        IMPORT = "import", "imported votes"

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        FLAGGED = "flagged", "flagged (low gold accuracy)"
        BLOCKED = "blocked", "blocked (votes do not count)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annotator",
    )
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.LOCAL)
    external_id = models.CharField(max_length=128, help_text="worker id on the platform")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    status_reason = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    votes_count = models.PositiveIntegerField(default=0)
    gold_answers = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    sensitivity = models.FloatField(null=True, blank=True, help_text="P(yes | shows), Dawid-Skene")
    specificity = models.FloatField(null=True, blank=True, help_text="P(no | does not show)")
    trust = models.FloatField(null=True, blank=True, help_text="balanced accuracy estimate, 0..1")
    weight_yes = models.FloatField(default=1.0, help_text="a yes vote counts as this many votes")
    weight_no = models.FloatField(default=1.0, help_text="a no vote counts as this many votes")
    agreement = models.FloatField(
        null=True, blank=True, help_text="share of votes on decided candidates that match"
    )
    median_ms = models.FloatField(null=True, blank=True, help_text="median time per image (ms)")
    fitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"], name="annotator_platform_external_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(gold_correct__lte=models.F("gold_answers")),
                name="annotator_gold_correct_le_answers",
            ),
            models.CheckConstraint(
                condition=models.Q(weight_yes__gte=0, weight_no__gte=0),
                name="annotator_weights_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.platform == self.Platform.LOCAL and self.user_id:
            return self.user.username if self.user else f"user {self.user_id}"
        return f"{self.platform}:{self.external_id}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answers if self.gold_answers else None

    @property
    def is_blocked(self) -> bool:
        return self.status == self.Status.BLOCKED


class Study(models.Model):
    """A batch of external work (a Prolific study, an AMT HIT group): signed links admit workers,
    who get the completion code after `tasks_required` tasks."""

    name = models.CharField(max_length=200)
    platform = models.CharField(
        max_length=16,
        choices=[c for c in Annotator.Platform.choices if c[0] not in ("local", "import")],
        default=Annotator.Platform.PROLIFIC,
    )
    completion_code = models.CharField(max_length=64, default=_completion_code)
    tasks_required = models.PositiveSmallIntegerField(default=5)
    return_url = models.URLField(
        blank=True,
        help_text="where a worker goes when done; {code} is replaced by the completion code",
    )
    link_hours = models.PositiveIntegerField(default=72, help_text="how long a link stays valid")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tasks_required__gte=1), name="study_tasks_required_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def return_link(self) -> str:
        return self.return_url.replace("{code}", self.completion_code) if self.return_url else ""


class StudyParticipant(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="studies")
    external_ref = models.CharField(
        max_length=128, blank=True, help_text="the platform's assignment / session id"
    )
    tasks_done = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "annotator"], name="study_participant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} in {self.study}"
