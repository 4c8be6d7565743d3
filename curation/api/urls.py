from django.urls import re_path
from rest_framework.routers import DefaultRouter

from curation.api.candidates import CandidateViewSet
from curation.api.images import ImageViewSet
from curation.api.ingest import ImportViewSet, SynsetQueriesView
from curation.api.jobs import JobViewSet
from curation.api.synsets import SynsetViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("synsets", SynsetViewSet, basename="synset")
router.register("jobs", JobViewSet, basename="job")
router.register("imports", ImportViewSet, basename="import")
router.register("images", ImageViewSet, basename="image")
router.register("candidates", CandidateViewSet, basename="candidate")

urlpatterns = router.urls

# Ingest: ImageNet-style query plans per synset.
urlpatterns += [
    re_path(
        r"^synsets/(?P<wnid>n\d{8})/queries/?$", SynsetQueriesView.as_view(), name="synset-queries"
    ),
]
