from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from curation.api.candidates import CandidateViewSet
from curation.api.exports import (
    ExportDetailView,
    ExportDownloadView,
    ExportListView,
    ExportPreviewView,
)
from curation.api.images import ImageViewSet
from curation.api.ingest import ImportAliasViewSet, ImportViewSet, SynsetQueriesView
from curation.api.jobs import JobViewSet
from curation.api.synsets import SynsetViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("synsets", SynsetViewSet, basename="synset")
router.register("jobs", JobViewSet, basename="job")
router.register("imports", ImportViewSet, basename="import")
router.register("images", ImageViewSet, basename="image")
router.register("candidates", CandidateViewSet, basename="candidate")

urlpatterns = router.urls

# Ingest: `POST /api/v1/imports` without the slash too, and query plans per synset.
urlpatterns += [
    re_path(
        r"^imports$",
        ImportAliasViewSet.as_view({"get": "list", "post": "create"}),
        name="import-list-noslash",
    ),
    re_path(
        r"^imports/(?P<pk>[0-9]+)/report\.csv$",
        ImportAliasViewSet.as_view({"get": "report"}),
        name="import-report-noslash",
    ),
    re_path(
        r"^synsets/(?P<wnid>n\d{8})/queries/?$", SynsetQueriesView.as_view(), name="synset-queries"
    ),
]

# Exports: versions (→ an export job), preview of counts, downloads.
urlpatterns += [
    re_path(r"^exports/?$", ExportListView.as_view(), name="export-list"),
    re_path(r"^exports/preview/?$", ExportPreviewView.as_view(), name="export-preview"),
    path("exports/<slug:name>/", ExportDetailView.as_view(), name="export-detail"),
    path(
        "exports/<slug:name>/download/<str:file>",
        ExportDownloadView.as_view(),
        name="export-download",
    ),
]
