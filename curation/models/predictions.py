"""Model outputs per image: one Prediction row per (image, model); embeddings live in npy shards."""

from __future__ import annotations

from django.db import models


class Prediction(models.Model):
    image = models.ForeignKey(
        "curation.Image", on_delete=models.CASCADE, related_name="predictions"
    )
    model = models.ForeignKey(
        "curation.ModelArtifact", on_delete=models.CASCADE, related_name="predictions"
    )
    top5 = models.JSONField(default=list, help_text='[["n02123045", 0.71], ...] best first')
    synset_scores = models.JSONField(
        default=dict, help_text="wnid -> machine score, for every candidate synset of the image"
    )
    has_embedding = models.BooleanField(default=False, help_text="written to the embedding shards")
    error = models.CharField(
        max_length=500, blank=True, help_text="why the image could not be predicted (else empty)"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "model"], name="prediction_image_model"),
        ]
        indexes = [models.Index(fields=["model", "image"], name="prediction_model_image")]

    def __str__(self) -> str:
        return f"prediction {self.image_id} by {self.model_id}"
