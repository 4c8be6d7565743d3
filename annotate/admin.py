from django.contrib import admin

from annotate.models import (
    Annotator,
    Assignment,
    Decision,
    GoldItem,
    QualitySnapshot,
    Study,
    StudyParticipant,
    SynsetConsensus,
    Vote,
)
from config.admin_site import CuratorAdmin


@admin.register(GoldItem)
class GoldItemAdmin(CuratorAdmin):
    list_display = ["candidate", "truth", "created_by", "created_at"]
    raw_id_fields = ["candidate"]


@admin.register(Annotator)
class AnnotatorAdmin(CuratorAdmin):
    list_display = ["__str__", "platform", "status", "votes_count", "gold_answers", "trust"]
    list_filter = ["platform", "status"]
    search_fields = ["external_id", "user__username"]
    raw_id_fields = ["user", "status_changed_by"]
    readonly_fields = [
        "votes_count", "gold_answers", "gold_correct", "sensitivity", "specificity", "trust",
        "weight_yes", "weight_no", "agreement", "median_ms", "fitted_at",
    ]  # fmt: skip


@admin.register(Vote)
class VoteAdmin(CuratorAdmin):
    """Votes are paid human judgement: they come through the API and are never deleted here
    (block the annotator instead; consensus then stops counting them)."""

    list_display = ["annotator", "candidate", "answer", "source", "created_at"]
    list_filter = ["source", "answer"]
    raw_id_fields = ["annotator", "candidate", "synset", "assignment"]
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Decision)
class DecisionAdmin(CuratorAdmin):
    list_display = ["candidate", "previous_state", "state", "method", "confidence", "created_at"]
    list_filter = ["method", "state"]
    raw_id_fields = ["candidate", "user"]
    show_full_result_count = False

    # The decision history is append-only (consensus, gold and curators add to it).
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Assignment)
class AssignmentAdmin(CuratorAdmin):
    list_display = ["token", "annotator", "synset", "status", "size", "created_at", "submitted_at"]
    list_filter = ["status"]
    raw_id_fields = ["annotator", "synset", "study"]
    show_full_result_count = False


@admin.register(SynsetConsensus)
class SynsetConsensusAdmin(CuratorAdmin):
    list_display = ["synset", "method", "calibrated", "threshold_accept", "alpha", "kappa"]
    list_filter = ["method", "calibrated"]
    raw_id_fields = ["synset"]


@admin.register(Study)
class StudyAdmin(CuratorAdmin):
    list_display = ["name", "platform", "tasks_required", "completion_code", "active"]


@admin.register(StudyParticipant)
class StudyParticipantAdmin(CuratorAdmin):
    list_display = ["study", "annotator", "tasks_done", "completed_at"]
    raw_id_fields = ["study", "annotator"]


@admin.register(QualitySnapshot)
class QualitySnapshotAdmin(CuratorAdmin):
    # raw ids: a select of all 82k synsets made this page take a minute
    list_display = ["synset", "created_at"]
    raw_id_fields = ["synset"]
    show_full_result_count = False
