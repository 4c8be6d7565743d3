from django.contrib import admin

from config.admin_site import CuratorAdmin
from curation.models import Candidate, Image, ImageOrigin, Job, JobChunk, Synset, SynsetEdge


@admin.register(Synset)
class SynsetAdmin(CuratorAdmin):
    list_display = ["wnid", "name", "depth", "descendant_count", "active", "target_images"]
    list_filter = ["active", "lexname"]
    search_fields = ["wnid", "name", "search_text"]
    readonly_fields = [
        "wnid",
        "name",
        "lemmas",
        "gloss",
        "depth",
        "descendant_count",
        "child_count",
    ]
    exclude = ["parents", "search_text"]
    show_full_result_count = False

    # The WordNet catalogue is imported, not edited: deleting a synset would cascade into its
    # candidates, votes and closure rows.
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(SynsetEdge)
class SynsetEdgeAdmin(CuratorAdmin):
    list_display = ["parent", "child", "kind"]
    list_filter = ["kind"]
    raw_id_fields = ["parent", "child"]
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Job)
class JobAdmin(CuratorAdmin):
    list_display = ["id", "kind", "status", "done", "total", "errors", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["created_at", "started_at", "finished_at", "heartbeat_at"]


@admin.register(JobChunk)
class JobChunkAdmin(CuratorAdmin):
    list_display = ["job", "index", "status", "size", "done", "errors", "attempts"]
    list_filter = ["status"]
    raw_id_fields = ["job"]


@admin.register(Image)
class ImageAdmin(CuratorAdmin):
    list_display = ["id", "sha256", "format", "width", "height", "bytes", "status"]
    list_filter = ["format", "status"]
    search_fields = ["sha256"]
    show_full_result_count = False


@admin.register(ImageOrigin)
class ImageOriginAdmin(CuratorAdmin):
    list_display = ["image", "uri", "source", "created_at"]
    raw_id_fields = ["image", "job"]
    search_fields = ["uri"]


@admin.register(Candidate)
class CandidateAdmin(CuratorAdmin):
    list_display = ["id", "image", "synset", "state", "machine_score", "votes_yes", "votes_no"]
    list_filter = ["state", "source"]
    raw_id_fields = ["image", "synset", "job"]
    show_full_result_count = False


# --- Ingest -------------------------------------------------------------------------------------
from curation.models import IngestItem  # noqa: E402


@admin.register(IngestItem)
class IngestItemAdmin(CuratorAdmin):
    list_display = ["job", "seq", "uri", "synset", "status", "reason", "image"]
    list_filter = ["status", "reason"]
    raw_id_fields = ["job", "synset", "image"]
    search_fields = ["uri"]
    show_full_result_count = False
