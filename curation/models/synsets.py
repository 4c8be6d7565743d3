"""WordNet 3.0 noun synsets, their DAG of hypernym edges and its transitive closure."""

from __future__ import annotations

from django.db import models


class Synset(models.Model):
    wnid = models.CharField(max_length=9, unique=True, help_text="'n' + 8-digit WordNet offset")
    name = models.CharField(max_length=128, unique=True, help_text="NLTK name, e.g. dog.n.01")
    lemmas = models.JSONField(default=list)
    gloss = models.TextField(blank=True)
    examples = models.JSONField(default=list, blank=True)
    lexname = models.CharField(max_length=32, blank=True)
    depth = models.PositiveSmallIntegerField(default=0, help_text="shortest path to entity.n.01")
    search_text = models.TextField(blank=True, help_text="lower-case wnid, name and lemmas")
    descendant_count = models.PositiveIntegerField(default=0)
    child_count = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=False, db_index=True)
    target_images = models.PositiveIntegerField(default=0)
    auto_reject_below = models.FloatField(
        null=True,
        blank=True,
        help_text="reject candidates scored under this (off when empty; never gold)",
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    parents = models.ManyToManyField(
        "self", through="SynsetEdge", symmetrical=False, related_name="children"
    )

    class Meta:
        ordering = ["wnid"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(wnid__regex=r"^n[0-9]{8}$"), name="synset_wnid_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.wnid} {self.name}"

    @property
    def lemma(self) -> str:
        return (self.lemmas[0] if self.lemmas else self.name.split(".")[0]).replace("_", " ")


class SynsetEdge(models.Model):
    class Kind(models.TextChoices):
        HYPERNYM = "hypernym", "hypernym"
        INSTANCE = "instance", "instance hypernym"

    parent = models.ForeignKey(Synset, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(Synset, on_delete=models.CASCADE, related_name="parent_edges")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.HYPERNYM)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="synset_edge_unique"),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("child")), name="synset_edge_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id} ({self.kind})"


class SynsetClosure(models.Model):
    """Every (ancestor, descendant) pair, self-pairs included at distance 0.

    Ancestors and descendants of a synset are then one indexed query each.
    """

    ancestor = models.ForeignKey(Synset, on_delete=models.CASCADE, related_name="+")
    descendant = models.ForeignKey(Synset, on_delete=models.CASCADE, related_name="+")
    distance = models.PositiveSmallIntegerField(help_text="shortest path length")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ancestor", "descendant"], name="closure_unique"),
        ]
        indexes = [
            models.Index(fields=["descendant", "ancestor"], name="closure_desc_anc"),
            models.Index(fields=["ancestor", "distance", "descendant"], name="closure_anc_dist"),
        ]

    def __str__(self) -> str:
        return f"{self.ancestor_id} >= {self.descendant_id} ({self.distance})"
