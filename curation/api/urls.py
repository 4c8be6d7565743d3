from django.urls import path, re_path

from config.routers import OptionalSlashDefaultRouter
from curation.api.candidates import CandidateViewSet
from curation.api.duplicates import DuplicateGroupViewSet
from curation.api.exports import (
    ExportDetailView,
    ExportDownloadView,
    ExportListView,
    ExportPreviewView,
)
from curation.api.images import ImageViewSet
from curation.api.ingest import ImportViewSet, SynsetQueriesView
from curation.api.jobs import JobViewSet
from curation.api.prelabel import ModelArtifactViewSet, PrelabelView, SynsetAutoRejectView
from curation.api.synsets import SynsetViewSet
from curation.api.training import TrainingRunViewSet

router = OptionalSlashDefaultRouter()
router.register("synsets", SynsetViewSet, basename="synset")
router.register("jobs", JobViewSet, basename="job")
router.register("imports", ImportViewSet, basename="import")
router.register("images", ImageViewSet, basename="image")
router.register("candidates", CandidateViewSet, basename="candidate")
router.register("models", ModelArtifactViewSet, basename="model")
router.register("duplicates", DuplicateGroupViewSet, basename="duplicate")
router.register("training-runs", TrainingRunViewSet, basename="training-run")

# Every route answers with or without its trailing slash (config/routers.py).
urlpatterns = [
    *router.urls,
    re_path(
        r"^synsets/(?P<wnid>n\d{8})/queries/?$", SynsetQueriesView.as_view(), name="synset-queries"
    ),
]

# Pre-labelling (issue 4): start a job; a synset's auto-reject threshold.
urlpatterns += [
    re_path(r"^prelabel/?$", PrelabelView.as_view(), name="prelabel"),
    re_path(
        r"^synsets/(?P<wnid>n\d{8})/auto-reject/?$",
        SynsetAutoRejectView.as_view(),
        name="synset-auto-reject",
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
