"""Votes, the decisions made from them (an audit trail), per-synset consensus state and history."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Vote(models.Model):
    """One annotator's answer to "does this image show the synset?"; one per (annotator,
    candidate), by constraint. Votes of blocked annotators stay stored but stop counting."""

    class Source(models.TextChoices):
        UI = "ui", "annotation UI"
        API = "api", "API"
        IMPORT = "import", "imported"

    annotator = models.ForeignKey(
        "annotate.Annotator", on_delete=models.CASCADE, related_name="votes"
    )
    candidate = models.ForeignKey(
        "curation.Candidate", on_delete=models.CASCADE, related_name="votes"
    )
    synset = models.ForeignKey("curation.Synset", on_delete=models.CASCADE, related_name="+")
    answer = models.BooleanField(help_text="the image shows the synset")
    assignment = models.ForeignKey(
        "annotate.Assignment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="votes",
    )
    time_ms = models.PositiveIntegerField(null=True, blank=True, help_text="time spent, ms")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UI)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["annotator", "candidate"], name="vote_unique"),
        ]
        indexes = [
            models.Index(fields=["candidate"], name="vote_candidate"),
            models.Index(fields=["synset"], name="vote_synset"),
            models.Index(fields=["annotator", "created_at"], name="vote_annotator_time"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} says {'yes' if self.answer else 'no'} to {self.candidate_id}"


class Decision(models.Model):
    """Every state change consensus (or a curator) makes, with the evidence it used."""

    class Method(models.TextChoices):
        DYNAMIC = "dynamic", "dynamic consensus"
        DYNAMIC_WEIGHTED = "dynamic_weighted", "dynamic consensus, worker-weighted"
        MAJORITY = "majority", "fixed-k majority"
        GOLD = "gold", "gold (curator truth)"
        CURATOR = "curator", "curator adjudication"

    candidate = models.ForeignKey(
        "curation.Candidate", on_delete=models.CASCADE, related_name="decisions"
    )
    state = models.CharField(max_length=10, help_text="the candidate's new state")
    previous_state = models.CharField(max_length=10)
    method = models.CharField(max_length=32, choices=Method.choices)
    confidence = models.FloatField(null=True, blank=True)
    votes_yes = models.PositiveIntegerField(default=0)
    votes_no = models.PositiveIntegerField(default=0)
    effective_yes = models.FloatField(null=True, blank=True)
    effective_no = models.FloatField(null=True, blank=True)
    threshold_accept = models.FloatField(null=True, blank=True)
    threshold_reject = models.FloatField(null=True, blank=True)
    votes = models.JSONField(
        default=list, blank=True, help_text="[vote id, annotator id, answer 0/1, weight] used"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["candidate", "-created_at"], name="decision_candidate"),
            models.Index(fields=["created_at"], name="decision_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True)
                | models.Q(confidence__gte=0, confidence__lte=1),
                name="decision_confidence_range",
            ),
        ]

    def __str__(self) -> str:
        return f"candidate {self.candidate_id}: {self.previous_state} -> {self.state}"


class SynsetConsensus(models.Model):
    """A synset's consensus policy and its fitted latent-class model (the confidence table)."""

    class Method(models.TextChoices):
        DYNAMIC = "dynamic", "dynamic consensus"
        DYNAMIC_WEIGHTED = "dynamic_weighted", "dynamic consensus, worker-weighted"
        MAJORITY = "majority", "fixed-k majority"

    synset = models.OneToOneField(
        "curation.Synset", on_delete=models.CASCADE, related_name="consensus"
    )
    method = models.CharField(
        max_length=20, choices=Method.choices, blank=True, help_text="blank: the site default"
    )
    majority_votes = models.PositiveSmallIntegerField(default=3)
    threshold_override = models.FloatField(
        null=True, blank=True, help_text="curator's accept threshold (reject at 1 - it)"
    )
    calibrated = models.BooleanField(
        default=False, help_text="every calibration item has its votes and the model was fitted"
    )
    calibrated_at = models.DateTimeField(null=True, blank=True)
    model = models.JSONField(
        default=dict, blank=True, help_text="fitted latent-class parameters (annotate.stats.latent)"
    )
    threshold_accept = models.FloatField(null=True, blank=True)
    threshold_reject = models.FloatField(null=True, blank=True)
    predicted_precision = models.FloatField(null=True, blank=True)
    predicted_reject_precision = models.FloatField(null=True, blank=True)
    predicted_votes = models.FloatField(null=True, blank=True)
    predicted_escalated = models.FloatField(null=True, blank=True)
    table = models.JSONField(default=list, blank=True, help_text="P(shows | y yes, n no)")
    fit_items = models.PositiveIntegerField(default=0)
    fitted_votes = models.PositiveIntegerField(default=0)
    votes_total = models.PositiveIntegerField(default=0)
    fitted_at = models.DateTimeField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True, help_text="Krippendorff's alpha (nominal)")
    kappa = models.FloatField(null=True, blank=True, help_text="Fleiss' kappa")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "synset consensus"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold_override__isnull=True)
                | models.Q(threshold_override__gt=0.5, threshold_override__lt=1),
                name="consensus_threshold_override_range",
            ),
            models.CheckConstraint(
                condition=models.Q(majority_votes__gte=1), name="consensus_majority_votes_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"consensus for {self.synset_id}"


class QualitySnapshot(models.Model):
    """Quality figures at a point in time (per synset, or overall when synset is null)."""

    synset = models.ForeignKey(
        "curation.Synset", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    open = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    votes = models.PositiveIntegerField(default=0)
    votes_per_decided = models.FloatField(null=True, blank=True)
    precision_estimate = models.FloatField(null=True, blank=True)
    reject_precision_estimate = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    kappa = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["synset", "created_at"], name="snapshot_synset_time")]

    def __str__(self) -> str:
        return f"snapshot {self.synset_id or 'overall'} {self.created_at:%Y-%m-%d %H:%M}"
