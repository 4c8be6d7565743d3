"""Unique pictures (content-addressed) and candidacies "does image I depict synset S?"."""

from __future__ import annotations

from django.db import models


class Image(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "ok"
        EXCLUDED = "excluded", "excluded (duplicate or curator)"

    sha256 = models.CharField(max_length=64, unique=True)
    storage_key = models.CharField(max_length=255, help_text="original bytes, byte-for-byte")
    thumb_key = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16)
    mode = models.CharField(max_length=16, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()
    phash = models.BigIntegerField(null=True, blank=True, help_text="64-bit pHash, signed")
    exif_orientation = models.PositiveSmallIntegerField(default=1)
    frames = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    problems = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="image_sha256_hex"
            ),
            models.CheckConstraint(
                condition=models.Q(width__gt=0, height__gt=0), name="image_positive_size"
            ),
        ]

    def __str__(self) -> str:
        return f"Image {self.pk} {self.sha256[:12]}"

    @property
    def phash_hex(self) -> str:
        if self.phash is None:
            return ""
        return f"{self.phash & 0xFFFFFFFFFFFFFFFF:016x}"


class ImageOrigin(models.Model):
    """Where an image came from (path inside a source, or URL); one image may have many."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="origins")
    uri = models.TextField()
    uri_hash = models.CharField(max_length=40, db_index=True, help_text="sha1 of uri")
    source = models.CharField(max_length=100, blank=True)
    job = models.ForeignKey("curation.Job", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["uri_hash", "image"], name="origin_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.uri} -> image {self.image_id}"


class Candidate(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "pending"
        IN_REVIEW = "in_review", "in review"
        ACCEPTED = "accepted", "accepted"
        REJECTED = "rejected", "rejected"
        ESCALATED = "escalated", "escalated"
        EXCLUDED = "excluded", "excluded"

    DECIDED = (State.ACCEPTED, State.REJECTED)
    OPEN = (State.PENDING, State.IN_REVIEW)

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="candidates")
    synset = models.ForeignKey(
        "curation.Synset", on_delete=models.CASCADE, related_name="candidates"
    )
    source = models.CharField(max_length=100, blank=True, db_index=True)
    query = models.CharField(max_length=255, blank=True)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING, db_index=True
    )
    machine_score = models.FloatField(null=True, blank=True)
    votes_yes = models.PositiveIntegerField(default=0)
    votes_no = models.PositiveIntegerField(default=0)
    confidence = models.FloatField(null=True, blank=True, help_text="P(depicts | votes)")
    decided_by = models.CharField(max_length=32, blank=True, help_text="method that decided")
    decided_at = models.DateTimeField(null=True, blank=True)
    job = models.ForeignKey("curation.Job", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "synset"], name="candidate_unique"),
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True)
                | models.Q(confidence__gte=0, confidence__lte=1),
                name="candidate_confidence_range",
            ),
        ]
        indexes = [
            models.Index(fields=["synset", "state"], name="candidate_synset_state"),
            models.Index(fields=["synset", "machine_score"], name="candidate_synset_score"),
        ]

    def __str__(self) -> str:
        return f"Candidate {self.pk} image={self.image_id} synset={self.synset_id} {self.state}"
