"""Duplicate groups: images that are the same picture (exact bytes, near-exact, near)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DuplicateKind(models.TextChoices):
    EXACT = "exact", "exact (same pixels/bytes)"
    NEAR_EXACT = "near_exact", "near-exact (pHash)"
    NEAR = "near", "near (embedding)"


class DuplicateGroup(models.Model):
    class Status(models.TextChoices):
        PROPOSED = "proposed", "proposed"
        CONFIRMED = "confirmed", "confirmed by a curator"

    kind = models.CharField(
        max_length=10, choices=DuplicateKind.choices, help_text="the loosest link in the group"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    representative = models.ForeignKey(
        "curation.Image", on_delete=models.PROTECT, related_name="represented_groups"
    )
    size = models.PositiveIntegerField(default=0)
    crosses_synsets = models.BooleanField(default=False, db_index=True)
    min_similarity = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-size", "id"]

    def __str__(self) -> str:
        return f"DuplicateGroup {self.pk} ({self.kind}, {self.size})"


class DuplicateMember(models.Model):
    """An image's membership; an image is in at most one group (unique image)."""

    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="members")
    image = models.OneToOneField(
        "curation.Image", on_delete=models.CASCADE, related_name="duplicate_membership"
    )
    kind = models.CharField(max_length=10, choices=DuplicateKind.choices)
    similarity = models.FloatField(help_text="similarity to the image it was linked by, 0..1")

    class Meta:
        ordering = ["group", "-similarity"]

    def __str__(self) -> str:
        return f"image {self.image_id} in group {self.group_id}"


class NotDuplicatePair(models.Model):
    """A curator's "not a duplicate" verdict, never proposed again (image_a < image_b)."""

    image_a = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="+")
    image_b = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image_a", "image_b"], name="not_duplicate_unique"),
            models.CheckConstraint(
                condition=models.Q(image_a__lt=models.F("image_b")), name="not_duplicate_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image_a_id} != {self.image_b_id}"


class DuplicateEdge(models.Model):
    """One link the dedup job found between two images (image_a < image_b), kept so grouping can
    be recomputed (union-find) after a curator's "not a duplicate" without searching again."""

    image_a = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="+")
    image_b = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=DuplicateKind.choices)
    similarity = models.FloatField(help_text="1 - hamming/64 (pHash) or cosine (embedding)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image_a", "image_b"], name="duplicate_edge_unique"),
            models.CheckConstraint(
                condition=models.Q(image_a__lt=models.F("image_b")), name="duplicate_edge_ordered"
            ),
        ]
        indexes = [models.Index(fields=["image_b"], name="duplicate_edge_b")]

    def __str__(self) -> str:
        return f"{self.image_a_id} ~ {self.image_b_id} ({self.kind} {self.similarity:.3f})"
