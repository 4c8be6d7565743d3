"""Gold: candidates whose truth a curator fixed. Other areas must respect them: gold candidates are
never auto-decided by consensus and never revealed to annotators (HTML, API or timing)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class GoldItem(models.Model):
    """A candidate whose truth a curator fixed; hidden from annotators, used to measure them."""

    candidate = models.OneToOneField(
        "curation.Candidate", on_delete=models.CASCADE, related_name="gold"
    )
    truth = models.BooleanField(help_text="does the image depict the synset?")
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"gold candidate {self.candidate_id} = {self.truth}"
