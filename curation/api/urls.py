from django.urls import re_path
from rest_framework.routers import DefaultRouter

from curation.api.candidates import CandidateViewSet
from curation.api.images import ImageViewSet
from curation.api.ingest import ImportAliasViewSet, ImportViewSet, SynsetQueriesView
from curation.api.jobs import JobViewSet
from curation.api.synsets import SynsetViewSet
from curation.api.training import TrainingRunViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("synsets", SynsetViewSet, basename="synset")
router.register("jobs", JobViewSet, basename="job")
router.register("imports", ImportViewSet, basename="import")
router.register("images", ImageViewSet, basename="image")
router.register("candidates", CandidateViewSet, basename="candidate")
router.register("training-runs", TrainingRunViewSet, basename="training-run")

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
